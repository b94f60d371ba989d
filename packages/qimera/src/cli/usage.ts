export const MAIN_HELP = `qimera: data-free quantization of TensorFlow.js image classifiers

Usage:
  qimera quantize <model.json> --bits W/A --out <dir> [options]
  qimera eval <model.json> (--cifar10 <dir> | --images <dir>) [options]
  qimera compare <quantized.json> <teacher.json> --images <dir> [options]
  qimera <command> --help

Commands:
  quantize   quantize a tfjs LayersModel without data and export the low-bit artifact
  eval       top-1 accuracy of an exported artifact or a plain tfjs model on CIFAR-10
             or on a folder of your own labelled images
  compare    top-1 agreement and KL of a quantized model with its teacher on any images
`;

export const QUANTIZE_HELP = `qimera quantize <model.json> --bits W/A --out <dir> [options]

Quantizes a trained tfjs LayersModel (model.json + weights) without data and writes the
deployable artifact (packed k-bit weights; see qimera eval to load it). The training
methods start from the calibrated model ('mse') and report its fidelity to the teacher
on synthesized images as they train (--guard keeps the best state by it). Ctrl-C
(SIGINT) or SIGTERM stops the run and writes the model it has (exit code 130); a second
one quits at once.

Options:
  --bits W/A           weight / activation bits, 2 to 8 each (e.g. 4/4)       required
  --out <dir>          output folder; must not exist or be empty; written      required
                       whole or not at all (a killed run leaves no half model)
  --force              replace an --out folder that holds files, and remove the
                       leftovers a killed run left beside it (both named otherwise)
  --checkpoint <dir>   qimera / gdfq: write the training state to <dir> every
                       --checkpoint-every minutes (default 2) and when the run ends
  --resume <dir>       continue the run whose checkpoint is in <dir> (same options;
                       checkpoints then go on to <dir> unless --checkpoint is given)
  --method <name>      qimera (default) | gdfq | adaround (calibration, then learned
                       rounding and activation steps layer by layer; no generator) |
                       mse (calibration only, no training) | minmax (the naive baseline)
  --minutes <N>        time budget of the whole run (default 10 unless --iterations)
  --iterations <N>     iteration budget instead (repeats exactly for a seed)
  --preset <name>      short (default): the schedule follows the budget (batch 64)
                       | paper: QIMERA.md's schedule for 80,000 iterations
  --start <name>       calibrated (default) | minmax: the paper's starting point
  --guard <name>       off (default: the last state) | kl | agreement: return the
                       state that follows the teacher best on synthesized images
  --input-range <lo,hi> the model's input value range after its normalisation, e.g.
                       0,1 or -1,1: synthesized images stay in it (much better starts)
  --synthesis-steps <N> optimisation steps per synthesized image batch (default 20)
  --synthesis-jitter <N> shift synthesized images by up to N pixels at random while
                       they are optimised (default 0; with --input-range, 2 helps
                       --method adaround on photos)
  --synthesis-flip     mirror them left to right at random too (photos, not digits)
  --bns-weight <x>     weight of the BN-statistics loss in synthesis (default 1)
  --synthesis-tv <x>   weight of a smoothness prior on synthesized images (squared
                       total variation; default 0; 10 for inputs in [-2, 2] helps
                       --method adaround on photos)
  --synthesis-noise <name> white (default) | multiScale: synthesized images start
                       from noise with large-scale structure, so they differ in
                       brightness and colour as photos do
  --granularity <name> adaround: layer (default) | block: learn the roundings of the
                       layers a residual connection spans together (BRECQ)
  --drop-quantization <p> adaround: the probability that an activation stays in float
                       in a learning step (QDrop; default 0)
  --fold-bn            fold BatchNorm into the convolutions first (integer engines)
  --input-bits <N>     also quantize the network input (8 for integer-only models)
  --first-last-bits <N> bits of the first and last layers and the activations next
                       to them (8: the convention of published W4A4 results)
  --batch <N>          batch size (default: the preset's, 64 for CIFAR-size models)
  --warmup-epochs <N>  epochs of generator-only training (iteration budgets)
  --student-lr <x>     student learning rate
  --memory-limit <MiB> memory to plan batch sizes by (default: 4096 on wasm; none
                       planned on other backends)
  --workers <1|2>      threads for image synthesis and training (default: 2 where
                       there are 2 cores)
  --seed <N>           default 1
  --backend <name>     auto (default) | wasm | cpu | ... (tfjs backend)
  -h, --help           this text
`;

export const EVAL_HELP = `qimera eval <model.json> (--cifar10 <dir> | --images <dir>) [options]

Top-1 accuracy of exported qimera artifacts and plain tfjs LayersModels alike, on the
CIFAR-10 test batch (<dir>/test_batch.bin, the official binary release, normalised with
the usual CIFAR-10 mean / std) or on a folder of your own images: one subfolder per
class, PNG or JPEG, resized to the model's input and normalised as (x / 255 - mean) / std.

Options:
  --cifar10 <dir>      folder holding test_batch.bin
  --images <dir>       folder of class subfolders (classes numbered in name order)
  --classes <a,b,...>  class names in the model's output order (with --images)
  --mean <m[,m,m]>     per-channel mean in [0, 1] units (with --images; default 0)
  --std <s[,s,s]>      per-channel std (with --images; default 1)
  --limit <N>          evaluate the first N images only
  --integer            run the integer-only reference (exported with --fold-bn --input-bits 8)
  --batch <N>          evaluation batch size (default 500)
  --backend <name>     auto (default) | wasm | cpu | ...
  -h, --help           this text
`;

export const COMPARE_HELP = `qimera compare <quantized.json> <teacher.json> --images <dir> [options]

How closely a quantized model follows its teacher, without labels: the share of images
on which both pick the same class, and the mean KL divergence of the quantized model's
softmax from the teacher's. Every PNG and JPEG below <dir> is used, resized to the
teacher's input and normalised as (x / 255 - mean) / std.

Options:
  --images <dir>       any images (subfolders are searched)                     required
  --mean <m[,m,m]>     per-channel mean in [0, 1] units (default 0)
  --std <s[,s,s]>      per-channel std (default 1)
  --batch <N>          batch size (default 100)
  --backend <name>     auto (default) | wasm | cpu | ...
  -h, --help           this text
`;
