// Moved to shared/metrics.ts (train/ and eval/ both use it). Kept only for serial/hil.ts, which is being
// split into link/ + hil/ on another branch; point hil/ at shared/metrics.ts and delete this file.
export * from '../shared/metrics.ts';
