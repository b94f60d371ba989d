declare module 'virtual:bundled-digits' {
  import type { DigitBundle } from './digits.js';

  const digits: DigitBundle;
  export default digits;
}
