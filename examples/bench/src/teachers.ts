import type { LayersModel } from '@tensorflow/tfjs-layers';
import { buildMobileNetCifar, buildMobileNetV2Imagenet } from './mobilenet_v2.js';
import { buildResNet18, buildResNet20 } from './resnets.js';

/** The freshly initialised teachers the benchmarks measure, by name: two at 32x32, two at 224x224. */
export const TEACHERS: Readonly<
  Record<'resnet20' | 'mobilenet-cifar' | 'mobilenetv2-224' | 'resnet18-224', () => LayersModel>
> = {
  resnet20: buildResNet20,
  'mobilenet-cifar': buildMobileNetCifar,
  'mobilenetv2-224': buildMobileNetV2Imagenet,
  'resnet18-224': buildResNet18,
};
export type TeacherName = keyof typeof TEACHERS;
/** Every {@link TeacherName}. */
export const TEACHER_NAMES = Object.keys(TEACHERS) as TeacherName[];

/** Height, width and channels of a teacher's input, and its class count. */
export function teacherShape(net: LayersModel): { image: [number, number, number]; classes: number } {
  const [, height, width, channels] = (net.inputs[0]?.shape ?? []) as number[];
  return {
    image: [height as number, width as number, channels as number],
    classes: net.outputs[0]?.shape[1] as number,
  };
}
