import { describe, expect, it } from "vitest";
import { createRandom } from "./hash.js";
import { predict, train, type TrainingExample } from "./logistic.js";
import type { SparseVector } from "./sparse-vector.js";

const DIMS = 64;

function vector(entries: readonly (readonly [number, number])[]): SparseVector {
  const sorted = [...entries].sort((a, b) => a[0] - b[0]);
  return { indices: Uint32Array.from(sorted, ([i]) => i), values: Float32Array.from(sorted, ([, v]) => v) };
}

/**
 * Linearly separable: each example has 4 random "noise" features from 10..63 and one signal
 * feature, 0 for positives and 1 for negatives, all scaled to unit norm.
 */
function toyProblem(count: number, seed: number): TrainingExample[] {
  const random = createRandom(seed);
  return Array.from({ length: count }, () => {
    const label = random() < 0.5 ? 1 : 0;
    const noise = new Set<number>();
    while (noise.size < 4) noise.add(10 + Math.floor(random() * (DIMS - 10)));
    const entries = [[label === 1 ? 0 : 1, 1] as const, ...[...noise].map((i) => [i, 1] as const)];
    return { features: vector(entries.map(([i, v]) => [i, v / Math.sqrt(entries.length)])), label };
  });
}

const accuracy = (model: ReturnType<typeof train>, examples: readonly TrainingExample[]): number =>
  examples.filter((e) => (predict(model, e.features) >= 0.5 ? 1 : 0) === e.label).length / examples.length;

describe("train", () => {
  it("learns a separable toy problem to more than 95% accuracy on examples it has not seen", () => {
    const model = train(toyProblem(400, 1), { dims: DIMS, epochs: 5, random: createRandom(1) });
    expect(accuracy(model, toyProblem(400, 2))).toBeGreaterThan(0.95);
  });

  it("gives identical weights for the same seed and different ones for another seed", () => {
    const examples = toyProblem(200, 3);
    const fit = (seed: number) => train(examples, { dims: DIMS, epochs: 3, random: createRandom(seed) });
    const a = fit(5);
    const b = fit(5);
    expect(Array.from(b.weights)).toEqual(Array.from(a.weights));
    expect(b.bias).toBe(a.bias);
    expect(Array.from(fit(6).weights)).not.toEqual(Array.from(a.weights));
  });

  it("returns the running mean of the SGD iterates, as a dense step-by-step implementation does", () => {
    const examples = toyProblem(50, 9);
    const options = { dims: DIMS, epochs: 3, learningRate: 0.5, l2: 0.01, averageFromEpoch: 2 };
    const model = train(examples, { ...options, random: createRandom(3) });

    // The textbook version: shrink every weight on every step, average explicitly.
    const random = createRandom(3);
    const w = new Float64Array(DIMS);
    const sum = new Float64Array(DIMS);
    let bias = 0;
    let biasSum = 0;
    let n = 0;
    let t = 0;
    const order = examples.map((_, i) => i);
    for (let epoch = 1; epoch <= options.epochs; epoch++) {
      for (let i = order.length - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1));
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
      for (const k of order) {
        const { features, label } = examples[k]!;
        const eta = options.learningRate / (1 + options.learningRate * options.l2 * t++);
        let z = bias;
        features.indices.forEach((index, i) => (z += w[index]! * features.values[i]!));
        const g = 1 / (1 + Math.exp(-z)) - label;
        for (let i = 0; i < DIMS; i++) w[i]! *= 1 - eta * options.l2;
        features.indices.forEach((index, i) => (w[index]! -= eta * g * features.values[i]!));
        bias -= eta * g;
        if (epoch < options.averageFromEpoch) continue;
        n++;
        for (let i = 0; i < DIMS; i++) sum[i]! += w[i]!;
        biasSum += bias;
      }
    }
    sum.forEach((s, i) => expect(model.weights[i]).toBeCloseTo(s / n, 10));
    expect(model.bias).toBeCloseTo(biasSum / n, 10);
  });

  it("reports a falling training loss epoch by epoch", () => {
    const losses: number[] = [];
    train(toyProblem(300, 4), { dims: DIMS, epochs: 4, onEpoch: ({ loss }) => losses.push(loss) });
    expect(losses).toHaveLength(4);
    expect(losses[3]).toBeLessThan(losses[0]!);
  });

  it("shrinks the weights harder with a larger L2 penalty", () => {
    const examples = toyProblem(300, 5);
    const size = (l2: number) => train(examples, { dims: DIMS, epochs: 5, l2 }).weights.reduce((s, w) => s + w * w, 0);
    expect(size(0.05)).toBeLessThan(size(0));
  });

  it("refuses examples with feature indices beyond dims", () => {
    expect(() => train([{ features: vector([[DIMS, 1]]), label: 1 }], { dims: DIMS })).toThrow(RangeError);
  });
});

describe("predict", () => {
  it("returns probabilities in [0, 1], even for extreme margins", () => {
    const weights = new Float64Array(DIMS).fill(0);
    weights[0] = 1e6;
    weights[1] = -1e6;
    const model = { dims: DIMS, bias: 0, weights };
    for (const x of [vector([[0, 1]]), vector([[1, 1]]), vector([]), vector([[2, 0.5]])]) {
      const p = predict(model, x);
      expect(p).toBeGreaterThanOrEqual(0);
      expect(p).toBeLessThanOrEqual(1);
    }
    expect(predict(model, vector([[0, 1]]))).toBe(1);
    expect(predict(model, vector([[1, 1]]))).toBe(0);
    expect(predict(model, vector([]))).toBe(0.5);
  });
});
