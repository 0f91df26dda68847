/**
 * What the run report is built from. The types are structural: a SplitManifest, a run's history.json,
 * EvalMetrics, the `inspect` report of a .tflite and the HIL report can be passed as they are.
 */
import type { EvalMetrics } from '../shared/metrics.ts';

export interface DatasetSection {
  /** A SplitManifest, or anything with its class list and counts. */
  manifest: {
    classes: string[];
    counts: Record<string, { train: number; val: number; test: number }>;
    duplicateGroups?: number;
    conflicts?: unknown[];
    dropped?: unknown[];
    root?: string;
    seed?: number;
  };
  manifestPath?: string;
  /** Contact sheet PNG/JPEG written by `plastisort data report`; embedded as a data URI. */
  contactSheet?: string;
  /** Free-text lines, e.g. where the data came from. */
  notes?: string[];
}

export interface BackboneNotice {
  kind: string;
  source: string;
  sha256?: string;
  /** True when the nsfwjs offline fallback was used (its tail was re-trained on NSFW data). */
  fallback?: boolean;
  /** How the weights were obtained (config.json `backbone.origin`). */
  origin?: { via: string; url?: string; fetchedAt?: string; checks?: { structure: string; knownImage: string }; reason?: string };
}


export interface EvaluationSection {
  /** Legend label, e.g. 'baseline', 'fine-tuned', 'int8 (LiteRT)', 'device'. */
  label: string;
  metrics: EvalMetrics;
  /** That evaluation's errors.png (the misclassified images); the report shows the primary one's. */
  errorsImage?: string;
}

/** One predictor compared with another on the same images. */
export interface FidelityRow {
  from: string;
  to: string;
  n: number;
  /** Share of images with the same top-1 class. */
  top1: number;
  /** Share of output values within ±1 LSB (int8 comparisons). */
  within1?: number;
  maxAbs?: number;
  meanAbs?: number;
  histogram?: Record<string, number>;
}

/** Matches the fields of tflite/inspect.ts `InspectReport` this report uses. */
export interface ModelSection {
  path?: string;
  sha256?: string;
  fileBytes: number;
  ops: { op: string; count: number }[];
  weightBytes?: { total: number };
  arena?: { peakBytes: number; activationBytesTotal?: number };
  inputs?: { shape: number[]; type: string; quantization?: { scale: number[]; zeroPoint: number[] } }[];
  outputs?: { shape: number[]; type: string; quantization?: { scale: number[]; zeroPoint: number[] } }[];
}

interface LsbStatsLike {
  n: number;
  top1: number;
  within1: number;
  maxAbs: number;
  meanAbs: number;
  histogram?: Record<string, number>;
}

/** Matches the fields of hil/hil-report.ts `HilReport` this report uses. */
export interface HilSection {
  model?: { path?: string; sha256?: string };
  device?: { link?: string; firmware?: string; arenaUsedBytes?: number };
  n: number;
  metrics?: { device?: EvalMetrics; litert?: EvalMetrics };
  vsLitert?: LsbStatsLike;
  vsSimulator?: Partial<Record<string, LsbStatsLike>>;
  roundingMatched?: string;
  timing: {
    invokeUsMean: number;
    invokeUsP95: number;
    imagesPerSecond: number;
    baud?: number;
    linkUtilisation?: number | null;
    wireBytesPerImage?: number;
    seconds?: number;
  };
  link?: { retries?: number; resets?: number; framesRejected?: number; reconnects?: number };
  /** Per-image invoke times, for the latency histogram. */
  invokeUs?: number[];
}

export interface ReportInput {
  title?: string;
  /** Shown in the header; pass it explicitly so the same inputs give the same bytes. */
  generatedAt?: string;
  subtitle?: string;
  backbone?: BackboneNotice;
  dataset?: DatasetSection;
  /** history.json contents (any form eval/plots.ts normaliseHistory reads). */
  training?: { baseline?: unknown; finetune?: unknown };
  /** In presentation order, e.g. baseline, fine-tuned, int8 desktop, device. */
  evaluations?: EvaluationSection[];
  /** Label of the evaluation whose per-class table is shown like the paper's; default: 'fine-tuned' or the first. */
  primary?: string;
  /** Extra fidelity rows; rows are also derived from int8 agreement and the HIL report. */
  fidelity?: FidelityRow[];
  model?: ModelSection;
  hil?: HilSection;
  /** What ran the HIL: the host simulator or a real board; default guessed from hil.device.link. */
  hilTarget?: 'simulator' | 'device';
  notes?: string[];
}

// ------------------------------------------------------------------ helpers
