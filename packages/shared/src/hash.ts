/** Small, stable, non-cryptographic hashing shared by the simulator and the learned classifier. */

/**
 * MurmurHash3's 32-bit finaliser (fmix32): every input bit flips each output bit with probability
 * about 1/2. FNV-1a alone mixes poorly for keys that differ only in their last bytes ("mmlu-124",
 * "mmlu-125"): without this, a 20% split of the MMLU ids held out 25%, and a bucket taken from
 * FNV's low bits depends on few input bits.
 */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
