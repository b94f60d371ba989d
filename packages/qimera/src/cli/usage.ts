export const MAIN_HELP = `qimera: data-free quantization of TensorFlow.js image classifiers

Usage:
  qimera quantize <model.json> --bits W/A --out <dir> [options]
  qimera eval <model.json> --cifar10 <dir> [options]
  qimera <command> --help

Commands:
  quantize   quantize a tfjs LayersModel without data and export the low-bit artifact
  eval       top-1 accuracy of an exported artifact or a plain tfjs model on CIFAR-10
`;

export const QUANTIZE_HELP = `qimera quantize <model.json> --bits W/A --out <dir> [options]

Quantizes a trained tfjs LayersModel (model.json + weights) without data and writes the
deployable artifact (packed k-bit weights; see qimera eval to load it).

Options:
  --bits W/A           weight / activation bits, 2 to 8 each (e.g. 4/4)       required
  --out <dir>          output folder; must not exist or be empty               required
  --method <name>      qimera (default) | gdfq | minmax
  --minutes <N>        time budget (qimera, gdfq)
  --iterations <N>     iteration budget (qimera, gdfq); one of the two is required
  --preset <name>      paper (default) | short: the training schedule for budgets of
                       minutes to an hour on a CPU (batch 64, 50 warm-up iterations)
  --fold-bn            fold BatchNorm into the convolutions first (integer engines)
  --input-bits <N>     also quantize the network input (8 for integer-only models)
  --batch <N>          batch size (default: the preset's, 200 for CIFAR-size models)
  --warmup-epochs <N>  epochs of range calibration before the student trains
  --student-lr <x>     student learning rate
  --workers <1|2>      worker threads for training (default 1)
  --seed <N>           default 1
  --backend <name>     auto (default) | wasm | cpu | ... (tfjs backend)
  -h, --help           this text
`;

export const EVAL_HELP = `qimera eval <model.json> --cifar10 <dir> [options]

Top-1 accuracy on the CIFAR-10 test batch (<dir>/test_batch.bin, the official binary
release). Loads exported qimera artifacts and plain tfjs LayersModels alike. Images are
normalised with the usual CIFAR-10 mean / std.

Options:
  --cifar10 <dir>      folder holding test_batch.bin                           required
  --limit <N>          evaluate the first N test images only
  --integer            run the integer-only reference (exported with --fold-bn --input-bits 8)
  --batch <N>          evaluation batch size (default 500)
  --backend <name>     auto (default) | wasm | cpu | ...
  -h, --help           this text
`;
