// prepack of every package: the repository's LICENSE goes into each tarball (npm takes
// LICENSE from the package folder only). The copies are git-ignored.
import { copyFileSync } from 'node:fs';

copyFileSync(new URL('../LICENSE', import.meta.url), 'LICENSE');
