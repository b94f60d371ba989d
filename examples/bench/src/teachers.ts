import type { LayersModel } from '@tensorflow/tfjs-layers';
import { buildMobileNetCifar } from './mobilenet_cifar.js';
import { buildResNet20 } from './resnet20.js';

/** The freshly initialised 32x32 teachers the benchmarks measure, by name. */
export const TEACHERS: Readonly<Record<'resnet20' | 'mobilenet-cifar', () => LayersModel>> = {
  resnet20: buildResNet20,
  'mobilenet-cifar': buildMobileNetCifar,
};
export type TeacherName = keyof typeof TEACHERS;
/** Every {@link TeacherName}. */
export const TEACHER_NAMES = Object.keys(TEACHERS) as TeacherName[];
