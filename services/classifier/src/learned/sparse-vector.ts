/** A sparse feature vector: `indices` strictly increasing, `values[i]` belongs to `indices[i]`. */
export interface SparseVector {
  readonly indices: Uint32Array;
  readonly values: Float32Array;
}
