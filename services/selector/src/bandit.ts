/**
 * Seeded randomness for Thompson sampling: a PRNG, Gamma and Beta samplers built on it, and the
 * seed derivations the selector uses. No `Math.random`, no dependencies: a decision's random draws
 * are a function of its recorded `seed` (and the model spec), so replaying the decision with the
 * same inputs draws the same numbers and makes the same choice.
 */
import { fmix32 } from "@llm-router/shared";

/** Uniform draws in (0, 1): never 0, so `Math.log(u)` is always finite. */
export type Uniform = () => number;

/** 2^32, to turn a 32-bit integer into a fraction. */
const TWO_POW_32 = 4_294_967_296;

/** The golden-ratio increment of splitmix's Weyl sequence: odd, so the state visits all 2^32 values. */
const GOLDEN_GAMMA = 0x9e3779b9;

/**
 * splitmix32: a Weyl sequence (state += golden ratio) through MurmurHash3's finaliser (the shared
 * `fmix32`). Period 2^32, every output bit avalanched, and plenty for the few dozen draws one
 * decision needs. Returns (x + 0.5) / 2^32, strictly inside (0, 1).
 */
export function splitmix32(seed: number): Uniform {
  let state = seed >>> 0;
  return () => {
    state = (state + GOLDEN_GAMMA) >>> 0;
    return (fmix32(state) + 0.5) / TWO_POW_32;
  };
}

/** FNV-1a, 32 bit: a stable non-negative number from a string (a task id, a model spec). */
export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/**
 * An independent stream per purpose: the decision's seed mixed with a label ("explore", a model
 * spec). Each model's draw then depends on the seed and its own spec only — adding a model to the
 * registry, or excluding one, does not change the others' samples.
 */
export function derivedStream(seed: number, label: string): Uniform {
  return splitmix32(fmix32((seed ^ Math.imul(fnv1a32(label), GOLDEN_GAMMA)) >>> 0));
}

/** A standard normal draw (Box–Muller; the second value of the pair is not kept). */
export function sampleNormal(uniform: Uniform): number {
  return Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
}

/**
 * A Gamma(shape, 1) draw by Marsaglia and Tsang (2000): a squeezed rejection from a transformed
 * normal, accepting ≈ 96% or more of proposals for shape ≥ 1. Below 1 it uses the boost
 * Gamma(a) = Gamma(a + 1) · U^(1/a). Shape 0 is the point mass at 0.
 */
export function sampleGamma(uniform: Uniform, shape: number): number {
  if (!(shape >= 0) || !Number.isFinite(shape)) throw new RangeError(`gamma shape must be finite and ≥ 0, got ${shape}`);
  if (shape === 0) return 0;
  if (shape < 1) return sampleGamma(uniform, shape + 1) * uniform() ** (1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    const x = sampleNormal(uniform);
    const v0 = 1 + c * x;
    if (v0 <= 0) continue;
    const v = v0 * v0 * v0;
    const u = uniform();
    const x2 = x * x;
    if (u < 1 - 0.0331 * x2 * x2) return d * v;
    if (Math.log(u) < 0.5 * x2 + d * (1 - v + Math.log(v))) return d * v;
  }
}

/**
 * A Beta(alpha, beta) draw as X / (X + Y) with X ~ Gamma(alpha), Y ~ Gamma(beta). A zero
 * parameter is a point mass (alpha 0 → 0, beta 0 → 1); both zero has no distribution and throws.
 */
export function sampleBeta(uniform: Uniform, alpha: number, beta: number): number {
  if (alpha === 0 && beta === 0) throw new RangeError("beta parameters must not both be 0");
  const x = sampleGamma(uniform, alpha);
  const y = sampleGamma(uniform, beta);
  // Both draws can underflow to 0 for tiny shapes: the mean is the honest answer then.
  return x + y > 0 ? x / (x + y) : alpha / (alpha + beta);
}
