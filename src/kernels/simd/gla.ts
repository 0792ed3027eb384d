/** The gated linear attention scan (one direction) as a SIMD kernel. */
import { FunctionWriter } from './assembler.js';
import { exp } from './elementwise.js';

/**
 * glaScan(q, k, v, g, o, s, e, seqs, l, dk, dv, reverse, scaleBits): for each of `seqs` sequences, the
 * recurrence S_t = diag(exp(g_t)) S_{t-1} + k_t v_t^T, o_t += scale q_t^T S_t, walking t forward or (reverse
 * != 0) backward. q, k, g are (seqs, l, dk) and v, o (seqs, l, dv), float32 with dk and dv multiples of 4;
 * s (dk x dv) and e (dk) are heap scratch for the state and one step's decays. The state is read once per
 * step, row by row: each row decays, takes k_a v_t, and adds q_a times itself to o_t.
 */
export function glaScanFunction(): FunctionWriter {
  const f = new FunctionWriter('glaScan', 13);
  const [q, k, v, g, o, s, e, seqs, l, dk, dv, reverse, scaleBits] = f.params;
  const i32 = () => f.local('i32');
  const [seq, i, t, a, c, kt, vt, row, dkBytes, dvBytes, stateBytes] = Array.from({ length: 11 }, i32);
  const [scale, next, da, ka, qa, x, n, r] = Array.from({ length: 8 }, () => f.local('v128'));

  f.get(scaleBits).reinterpretF32().splatF32().set(scale);
  f.get(dk).i32(4).mul().set(dkBytes);
  f.get(dv).i32(4).mul().set(dvBytes);
  f.get(dk).get(dvBytes).mul().set(stateBytes);
  f.for(seq, 0, seqs, 1, () => {
    f.for(c, 0, stateBytes, 16, () => {
      f.get(s).get(c).add().splat(0).store();
    });
    f.for(i, 0, l, 1, () => {
      // t = reverse ? l - 1 - i : i
      f.get(l).i32(1).sub().get(i).sub().get(i).get(reverse).select().set(t);
      f.get(seq).get(l).mul().get(t).add().tee(kt).get(dvBytes).mul().set(vt);
      f.get(kt).get(dkBytes).mul().set(kt);
      f.for(a, 0, dkBytes, 16, () => {
        f.get(e).get(a).add();
        f.get(g).get(kt).add().get(a).add().load().set(x);
        exp(f, x, n, r);
        f.store();
      });
      f.get(s).set(row);
      f.for(a, 0, dkBytes, 4, () => {
        f.get(e).get(a).add().loadSplat().set(da);
        f.get(k).get(kt).add().get(a).add().loadSplat().set(ka);
        f.get(q).get(kt).add().get(a).add().loadSplat().get(scale).fmul().set(qa);
        f.for(c, 0, dvBytes, 16, () => {
          f.get(row).get(c).add().load().get(da).fmul();
          f.get(v).get(vt).add().get(c).add().load().get(ka).fmul().fadd().set(next);
          f.get(row).get(c).add().get(next).store();
          f.get(o).get(vt).add().get(c).add();
          f.get(o).get(vt).add().get(c).add().load().get(qa).get(next).fmul().fadd();
          f.store();
        });
        f.inc(row, dvBytes);
      });
    });
  });
  return f;
}
