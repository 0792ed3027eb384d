/** Neighborhood attention's forward (NATTEN semantics, from a neighborhood plan) as one SIMD kernel. */
import { FunctionWriter, type Local } from './assembler.js';
import { exp } from './elementwise.js';

/**
 * neighborhoodAttention(q, k, v, rpb, nbr, rpbIdx, y, w, batch, tokens, heads, d, slots, rpbSize, scaleBits):
 * NATTEN's forward for every (batch, query token, head) from a neighborhood plan: q, k, v, y (batch, tokens,
 * heads, d) with d a multiple of 4; nbr (tokens x slots, i32) the key token of each slot or -1 where masked;
 * rpb (heads, rpbSize) and rpbIdx (tokens x slots, i32) the relative position bias, or rpb = 0 for none;
 * w scratch of slots rounded up to 4 floats, the part past `slots` set to -inf by the caller. Logits are
 * dot products over d in vectors, softmax runs four slots at a time, the weighted sum accumulates into y's row.
 */
export function neighborhoodFunction(): FunctionWriter {
  const f = new FunctionWriter('neighborhoodAttention', 15);
  const [q, k, v, rpb, nbr, rpbIdx, y, w, batch, tokens, heads, d, slots, rpbSize, scaleBits] = f.params;
  const i32 = () => f.local('i32');
  const [t, n, h, j, c, rowBytes, dBytes, padded, nbrRow, key, qh, kh, vh, yh, kp] = Array.from({ length: 15 }, i32);
  const [scale, max, dot] = [f.local('f32'), f.local('f32'), f.local('f32')];
  const [acc, ex, en, er, sum, wj] = Array.from({ length: 6 }, () => f.local('v128'));
  const hsum = (x: Local) => f.get(x).lane(0).get(x).lane(1).addF32().get(x).lane(2).addF32().get(x).lane(3).addF32();
  const slotKey = () => f.get(nbr).get(nbrRow).add().get(j).i32(4).mul().add().loadI32().set(key);
  const wAt = () => f.get(w).get(j).i32(4).mul().add();

  f.get(scaleBits).reinterpretF32().set(scale);
  f.get(d).i32(4).mul().set(dBytes);
  f.get(heads).get(dBytes).mul().set(rowBytes);
  f.get(slots).i32(3).add().i32(-4).and32().set(padded);
  f.for(t, 0, batch, 1, () => {
    f.for(n, 0, tokens, 1, () => {
      f.get(n).get(slots).mul().i32(4).mul().set(nbrRow);
      f.for(h, 0, heads, 1, () => {
        // This (token, head)'s q and y rows, and where its head starts in a key's k and v rows.
        f.get(t).get(tokens).mul().get(n).add().get(rowBytes).mul().get(h).get(dBytes).mul().add().set(qh);
        f.get(qh).get(y).add().set(yh);
        f.get(qh).get(q).add().set(qh);
        f.get(t).get(tokens).mul().get(rowBytes).mul().get(h).get(dBytes).mul().add().set(kh);
        f.get(kh).get(v).add().set(vh);
        f.get(kh).get(k).add().set(kh);
        // Logits: w[j] = scale q . k[key] (+ rpb[h, rpbIdx[j]]), -inf where masked and in the padding.
        f.f32(-Infinity).set(max);
        f.for(j, 0, slots, 1, () => {
          slotKey();
          f.get(key).i32(0).ltS();
          f.ifElse(
            () => {
              wAt().f32(-Infinity).storeF32();
            },
            () => {
              f.get(key).get(rowBytes).mul().get(kh).add().set(kp);
              f.splat(0).set(acc);
              f.for(c, 0, dBytes, 16, () => {
                f.get(acc).get(qh).get(c).add().load().get(kp).get(c).add().load().fmul().fadd().set(acc);
              });
              hsum(acc).get(scale).mulF32().set(dot);
              f.get(rpb).eqz().eqz();
              f.if(() => {
                f.get(dot).get(rpbIdx).get(nbrRow).add().get(j).i32(4).mul().add().loadI32();
                f.get(h).get(rpbSize).mul().add().i32(4).mul().get(rpb).add().loadF32().addF32().set(dot);
              });
              wAt().get(dot).storeF32();
              f.get(max).get(dot).maxF32().set(max);
            },
          );
        });
        f.for(j, slots, padded, 1, () => {
          wAt().f32(-Infinity).storeF32();
        });
        // Softmax numerators four slots at a time, and their sum.
        f.splat(0).set(sum);
        f.get(max).splatF32().set(wj);
        f.for(j, 0, padded, 4, () => {
          wAt().load().get(wj).fsub().set(ex);
          wAt();
          exp(f, ex, en, er);
          f.tee(ex).store();
          f.get(sum).get(ex).fadd().set(sum);
        });
        // y row = sum over live slots of w[j] v[key], then divided by the sum.
        f.for(c, 0, dBytes, 16, () => {
          f.get(yh).get(c).add().splat(0).store();
        });
        f.for(j, 0, slots, 1, () => {
          slotKey();
          f.get(key).i32(0).geS();
          f.if(() => {
            wAt().loadSplat().set(wj);
            f.get(key).get(rowBytes).mul().get(vh).add().set(kp);
            f.for(c, 0, dBytes, 16, () => {
              f.get(yh).get(c).add();
              f.get(yh).get(c).add().load().get(wj).get(kp).get(c).add().load().fmul().fadd();
              f.store();
            });
          });
        });
        f.f32(1).get(sum).lane(0).get(sum).lane(1).addF32().get(sum).lane(2).addF32().get(sum).lane(3).addF32().divF32().splatF32().set(wj);
        f.for(c, 0, dBytes, 16, () => {
          f.get(yh).get(c).add();
          f.get(yh).get(c).add().load().get(wj).fmul();
          f.store();
        });
      });
    });
  });
  return f;
}
