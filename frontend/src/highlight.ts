// Which cells of an op's input-stats table explain the NaN/Inf.
//
// A heuristic, only used for emphasis: values that are already non-finite,
// and domain violations of the usual suspects (a 0 min for Log, a negative
// min for Sqrt, a zero divisor, a large argument to Exp, ...).

import { toNumber } from "./format";
import type { TensorStats } from "./types";

export type StatField = "min" | "max" | "nan" | "inf" | "zeros";

/** Largest x with exp(x) finite, per dtype. */
const EXP_LIMIT: Record<string, number> = {
  float16: 11.09,
  half: 11.09,
  bfloat16: 88.72,
  float32: 88.72,
  float: 88.72,
  float64: 709.78,
  double: 709.78,
};

function num(v: TensorStats["min"] | undefined): number {
  const n = toNumber(v);
  return n === null ? NaN : n;
}

/** Marks the min/max cell that is exactly zero, and the zeros count. */
function markZero(s: TensorStats, out: Set<StatField>): void {
  if ((s.zeros ?? 0) > 0) out.add("zeros");
  if (num(s.min) === 0) out.add("min");
  if (num(s.max) === 0) out.add("max");
}

/**
 * For each input (same order as `inputs`), the fields to highlight.
 * `opType` is the TensorFlow op type ("Log", "RealDiv", ...).
 */
export function offendingInputFields(opType: string | null | undefined, inputs: TensorStats[]): Set<StatField>[] {
  const result = inputs.map(() => new Set<StatField>());
  inputs.forEach((s, i) => {
    const out = result[i]!;
    if ((s.nan ?? 0) > 0) out.add("nan");
    if ((s.inf ?? 0) > 0) out.add("inf");
    const lo = num(s.min);
    const hi = num(s.max);
    if (s.min !== null && s.min !== undefined && !Number.isFinite(lo)) out.add("min");
    if (s.max !== null && s.max !== undefined && !Number.isFinite(hi)) out.add("max");
  });

  const first = inputs[0];
  const firstOut = result[0];
  if (!first || !firstOut) return result;
  const lo = num(first.min);
  const hi = num(first.max);

  switch (opType ?? "") {
    case "Log":
    case "Rsqrt":
    case "Lgamma":
    case "Digamma":
      if (lo <= 0) firstOut.add("min");
      if (lo <= 0) markZero(first, firstOut);
      break;
    case "Log1p":
      if (lo <= -1) firstOut.add("min");
      break;
    case "Sqrt":
      if (lo < 0) firstOut.add("min");
      break;
    case "Reciprocal":
    case "Inv":
      markZero(first, firstOut);
      break;
    case "RealDiv":
    case "Div":
    case "FloorDiv":
    case "TruncateDiv":
    case "FloorMod":
    case "Mod": {
      const divisor = inputs[1];
      const divisorOut = result[1];
      if (divisor && divisorOut) markZero(divisor, divisorOut);
      break;
    }
    case "Xdivy": {
      const divisor = inputs[1];
      const divisorOut = result[1];
      if (divisor && divisorOut && lo !== 0) markZero(divisor, divisorOut);
      break;
    }
    case "Pow":
      if (lo < 0) firstOut.add("min");
      else if (lo === 0) markZero(first, firstOut);
      break;
    case "Exp":
    case "Expm1":
    case "Cosh":
    case "Sinh": {
      const limit = EXP_LIMIT[first.dtype] ?? EXP_LIMIT.float32!;
      if (hi > limit) firstOut.add("max");
      if ((opType === "Cosh" || opType === "Sinh") && -lo > limit) firstOut.add("min");
      break;
    }
    case "Acos":
    case "Asin":
    case "Atanh":
      if (lo < -1) firstOut.add("min");
      if (hi > 1) firstOut.add("max");
      break;
    case "Acosh":
      if (lo < 1) firstOut.add("min");
      break;
    default:
      break;
  }
  return result;
}

/** Output cells to highlight: whatever is non-finite. */
export function offendingOutputFields(outputs: TensorStats[]): Set<StatField>[] {
  return outputs.map((s) => {
    const out = new Set<StatField>();
    if ((s.nan ?? 0) > 0) out.add("nan");
    if ((s.inf ?? 0) > 0) out.add("inf");
    if (s.min !== null && s.min !== undefined && !Number.isFinite(num(s.min))) out.add("min");
    if (s.max !== null && s.max !== undefined && !Number.isFinite(num(s.max))) out.add("max");
    return out;
  });
}
