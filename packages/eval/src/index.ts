/** The routing evaluation: the eval file format, the metric arithmetic and the SVG plot writer. */
export * from "./eval-errors.js";
export * from "./routing-eval-file.js";
export * from "./pair-metrics.js";
export * from "./multi-metrics.js";
export * from "./plot-svg.js";
export * from "./bootstrap.js";
export * from "./dev-data.js";
