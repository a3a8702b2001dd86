import type { BudgetWindow } from "@llm-router/shared";

/** Start of the UTC calendar window containing `at`. */
export function windowStart(window: BudgetWindow, at: Date): Date {
  const y = at.getUTCFullYear();
  const m = at.getUTCMonth();
  const d = at.getUTCDate();
  switch (window) {
    case "hour":
      return new Date(Date.UTC(y, m, d, at.getUTCHours()));
    case "day":
      return new Date(Date.UTC(y, m, d));
    case "month":
      return new Date(Date.UTC(y, m, 1));
  }
}
