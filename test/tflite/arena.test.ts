import { describe, expect, it } from 'vitest';
import { planArena } from '../../host/tflite/arena.ts';
import { GraphBuilder, expectValidArena as expectValid, floatChainModel, i8Bytes } from './models.ts';

describe('planArena', () => {
  it('gives the expected peak on a hand-made graph with a skip connection', () => {
    // op0: t0 → t1;  op1: t1, w → t2;  op2: t2 + t1 → t3;  op3: t3 → t4 (output)
    const g = new GraphBuilder();
    const t0 = g.activation('t0', [60], 'int8');
    const t1 = g.activation('t1', [128], 'int8');
    const w = g.constant('w', [1000], 'int8', i8Bytes(new Array(1000).fill(1)));
    const t2 = g.activation('t2', [250], 'int8');
    const t3 = g.activation('t3', [20], 'int8');
    const t4 = g.activation('t4', [16], 'int8');
    g.model.operators.push(
      { op: 'RELU', inputs: [t0], outputs: [t1] },
      { op: 'ADD', inputs: [t1, w], outputs: [t2], options: { fusedActivation: 'NONE' } },
      { op: 'ADD', inputs: [t2, t1], outputs: [t3], options: { fusedActivation: 'NONE' } },
      { op: 'RELU', inputs: [t3], outputs: [t4] },
    );
    g.model.inputs = [t0];
    g.model.outputs = [t4];
    const plan = planArena(g.model);
    const at = (i: number) => plan.tensors.find((t) => t.index === i)!;
    // Largest first: t2 [1,2] at 0; t1 [0,2] after it, aligned up from 250 to 256; t0 [0,0] is not
    // live with t2, so it fits at 0; t3 [2,3] must clear t2 and t1 → 384; t4 [3,3] meets only t3 → 0.
    expect(at(t2)).toMatchObject({ offset: 0, bytes: 250, firstOp: 1, lastOp: 2 });
    expect(at(t1)).toMatchObject({ offset: 256, bytes: 128, firstOp: 0, lastOp: 2 });
    expect(at(t0)).toMatchObject({ offset: 0, bytes: 60, firstOp: 0, lastOp: 0 });
    expect(at(t3)).toMatchObject({ offset: 384, bytes: 20, firstOp: 2, lastOp: 3 });
    expect(at(t4)).toMatchObject({ offset: 0, bytes: 16, firstOp: 3, lastOp: 3 });
    expect(plan.tensors.find((t) => t.index === w)).toBeUndefined();
    expect(plan.peakBytes).toBe(404);
    expectValid(plan);
  });

  it('plans a float chain validly and never below the largest live set', () => {
    const model = floatChainModel();
    const plan = planArena(model);
    expectValid(plan);
    for (let k = 0; k < model.operators.length; k++) {
      const live = plan.tensors.filter((t) => t.firstOp <= k && k <= t.lastOp).reduce((a, t) => a + t.bytes, 0);
      expect(plan.peakBytes).toBeGreaterThanOrEqual(live);
    }
    // Input (768 B), conv out (1 KiB) and dw out (1 KiB) are live together at the ADD.
    expect(plan.peakBytes).toBeGreaterThanOrEqual(1024 + 1024);
  });
});
