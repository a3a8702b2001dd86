/**
 * Sparse binary logistic regression trained by averaged SGD (ASGD) with exact L2 regularisation,
 * after Bottou, "Stochastic Gradient Descent Tricks" (2012) and Xu, "Towards Optimal One Pass
 * Large Scale Learning with Averaged Stochastic Gradient Descent" (2011).
 *
 * - Step size η_t = η0 / (1 + η0·λ·t). The bias is not regularised.
 * - L2 shrinks every weight on every step, which on a 2^18-long vector would cost 2^18 operations
 *   per example. Instead the weights are stored as `w / wDivisor`: shrinking divides one number,
 *   and a step touches only the example's non-zero features.
 * - The returned model is the average of the SGD iterates from `averageFromEpoch` on, kept in the
 *   same lazy form: `(a + wFraction·w) / aDivisor`. Plain SGD's last iterate depends on the last few
 *   examples; on a validation split of the MMLU training rows it was overconfident enough that its
 *   log-loss lost to predicting the base rate, while the average beat it at the same AUC.
 *
 * Training is deterministic: the only randomness is the shuffle, drawn from the injected `random`.
 */
import { createRandom } from "./hash.js";
import type { SparseVector } from "./sparse-vector.js";

/** A trained model: p = sigmoid(bias + Σ weights[i] · x[i]). */
export interface LearnedWeights {
  readonly dims: number;
  readonly bias: number;
  readonly weights: Float64Array;
}

export interface TrainingExample {
  readonly features: SparseVector;
  readonly label: 0 | 1;
}

export interface EpochProgress {
  /** 1-based. */
  readonly epoch: number;
  /** Mean log-loss of the epoch's examples, each measured just before its own update. */
  readonly loss: number;
}

export interface TrainOptions {
  /** Length of the weight vector; every feature index must be below it. Required. */
  dims: number;
  /** Passes over the examples, each in a fresh shuffled order. Default 10. */
  epochs?: number;
  /** Initial step size η0. Features are L2-normalised, so about 0.5 is stable. Default 0.5. */
  learningRate?: number;
  /** L2 penalty λ (per example, as in λ/2·‖w‖²). Default 1e-4. */
  l2?: number;
  /** Source of [0, 1) floats for the shuffle. Default `createRandom(1)` (mulberry32, seed 1). */
  random?: () => number;
  /** First epoch (1-based) whose iterates are averaged into the model. Default 2: the first epoch's
   * iterates are far from the optimum and would drag the average. */
  averageFromEpoch?: number;
  /** Called after each epoch, for progress output. */
  onEpoch?: (progress: EpochProgress) => void;
}

export interface ResolvedTrainOptions {
  readonly dims: number;
  readonly epochs: number;
  readonly learningRate: number;
  readonly l2: number;
  readonly random: () => number;
  readonly averageFromEpoch: number;
  readonly onEpoch: ((progress: EpochProgress) => void) | undefined;
}

export function resolveTrainOptions(options: TrainOptions): ResolvedTrainOptions {
  const resolved = {
    dims: options.dims,
    epochs: options.epochs ?? 10,
    learningRate: options.learningRate ?? 0.5,
    l2: options.l2 ?? 1e-4,
    random: options.random ?? createRandom(1),
    averageFromEpoch: options.averageFromEpoch ?? 2,
    onEpoch: options.onEpoch,
  };
  if (!Number.isInteger(resolved.dims) || resolved.dims < 1) throw new RangeError(`dims must be a positive integer, got ${resolved.dims}`);
  if (!Number.isInteger(resolved.epochs) || resolved.epochs < 1) throw new RangeError(`epochs must be a positive integer, got ${resolved.epochs}`);
  if (!(resolved.learningRate > 0)) throw new RangeError(`learningRate must be > 0, got ${resolved.learningRate}`);
  // Each step multiplies the weights by 1 - η·λ, which must stay positive.
  if (!(resolved.l2 >= 0 && resolved.learningRate * resolved.l2 < 1)) {
    throw new RangeError(`l2 must be >= 0 and learningRate * l2 < 1, got l2 ${resolved.l2} with learningRate ${resolved.learningRate}`);
  }
  if (!Number.isInteger(resolved.averageFromEpoch) || resolved.averageFromEpoch < 1) {
    throw new RangeError(`averageFromEpoch must be a positive integer, got ${resolved.averageFromEpoch}`);
  }
  return resolved;
}

/** Above this, the divisors are folded back into the vectors so the lazy forms stay accurate. */
const MAX_DIVISOR = 1e5;

/** log(1 + e^z) without overflow. */
function softplus(z: number): number {
  return z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z));
}

export function sigmoid(z: number): number {
  if (z >= 0) return 1 / (1 + Math.exp(-z));
  const e = Math.exp(z);
  return e / (1 + e);
}

function dot(weights: Float64Array, x: SparseVector): number {
  let sum = 0;
  for (let i = 0; i < x.indices.length; i++) sum += (weights[x.indices[i] ?? 0] ?? 0) * (x.values[i] ?? 0);
  return sum;
}

/** Throws a RangeError when a feature index is beyond `dims`. */
export function checkIndices(x: SparseVector, dims: number): void {
  const last = x.indices[x.indices.length - 1];
  if (last !== undefined && last >= dims) {
    throw new RangeError(`feature index ${last} is out of range for a ${dims}-dimensional model: featurize with the model's dims`);
  }
}

/** Fisher–Yates, in place. */
function shuffle(order: Uint32Array, random: () => number): void {
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const tmp = order[i] ?? 0;
    order[i] = order[j] ?? 0;
    order[j] = tmp;
  }
}

/** Fit weights to the examples; the same examples, options and PRNG seed give identical weights. */
export function train(examples: readonly TrainingExample[], options: TrainOptions): LearnedWeights {
  const { dims, epochs, learningRate, l2, random, averageFromEpoch, onEpoch } = resolveTrainOptions(options);
  for (const example of examples) checkIndices(example.features, dims);

  // Current iterate W = w / wDivisor; average A = (a + wFraction·w) / aDivisor.
  const w = new Float64Array(dims);
  const a = new Float64Array(dims);
  let wDivisor = 1;
  let aDivisor = 1;
  let wFraction = 0;
  let bias = 0;
  let averageBias = 0;
  let averaged = 0; // iterates in the average so far
  const fold = (): void => {
    for (let i = 0; i < dims; i++) {
      a[i] = ((a[i] ?? 0) + wFraction * (w[i] ?? 0)) / aDivisor;
      w[i] = (w[i] ?? 0) / wDivisor;
    }
    wDivisor = 1;
    aDivisor = 1;
    wFraction = 0;
  };

  let t = 0;
  const order = Uint32Array.from(examples.keys());
  // With fewer epochs than averageFromEpoch, the last epoch is averaged.
  const firstAveraged = Math.min(averageFromEpoch, epochs);
  for (let epoch = 1; epoch <= epochs; epoch++) {
    shuffle(order, random);
    let lossSum = 0;
    for (const k of order) {
      const { features, label } = examples[k] as TrainingExample;
      const eta = learningRate / (1 + learningRate * l2 * t);
      t++;
      const z = dot(w, features) / wDivisor + bias;
      lossSum += softplus(label === 1 ? -z : z);
      const gradient = sigmoid(z) - label; // d loss / d z

      // Shrink W by (1 - ηλ) without touching w; A is unchanged.
      wDivisor /= 1 - eta * l2;
      if (wDivisor > MAX_DIVISOR || aDivisor > MAX_DIVISOR) fold();
      // Step W along the gradient; adding the same amount times wFraction to `a` leaves A unchanged.
      const step = eta * gradient * wDivisor;
      for (let i = 0; i < features.indices.length; i++) {
        const index = features.indices[i] ?? 0;
        const delta = step * (features.values[i] ?? 0);
        w[index] = (w[index] ?? 0) - delta;
        a[index] = (a[index] ?? 0) + wFraction * delta;
      }
      bias -= eta * gradient;

      if (epoch < firstAveraged) continue;
      // A ← (1 - μ)·A + μ·W with μ = 1/n: the running mean of the iterates so far.
      averaged++;
      if (averaged === 1) {
        a.fill(0);
        aDivisor = wDivisor;
        wFraction = 1;
      } else {
        const mu = 1 / averaged;
        aDivisor /= 1 - mu;
        wFraction += (mu * aDivisor) / wDivisor;
      }
      averageBias += (bias - averageBias) / averaged;
    }
    onEpoch?.({ epoch, loss: examples.length > 0 ? lossSum / examples.length : 0 });
  }
  fold();
  return averaged > 0 ? { dims, bias: averageBias, weights: a } : { dims, bias, weights: w };
}

/** Probability of the positive class, in [0, 1]. Throws when a feature index is beyond `model.dims`. */
export function predict(model: LearnedWeights, features: SparseVector): number {
  checkIndices(features, model.dims);
  return sigmoid(dot(model.weights, features) + model.bias);
}
