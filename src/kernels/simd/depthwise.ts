/** Depthwise convolution (NHWC) as a SIMD kernel. */
import { FunctionWriter, type Local } from './assembler.js';

/** Parameters of `depthwiseConv2d`, in order (all i32; pointers are byte offsets into the heap). */
export const DEPTHWISE_PARAMS = ['x', 'w', 'bias', 'y', 'n', 'h', 'w_', 'c', 'oh', 'ow', 'kh', 'kw', 'sh', 'sw', 'dh', 'dw', 'pt', 'pl', 'flags'] as const;
export const DEPTHWISE_BIAS = 1;
export const DEPTHWISE_RELU = 2;

/**
 * depthwiseConv2d: NHWC x (n, h, w, c), filter (kh, kw, c) (tfjs's (kh, kw, c, 1)), y (n, oh, ow, c), with
 * strides, dilations and zero padding before (pt, pl; after is implied by oh, ow); any c. Per output pixel
 * only the taps that land inside the image are visited (no padded copy); the channels go 16 at a time (four
 * accumulators) while they last, then 4, then 1.
 */
export function depthwiseFunction(fma = false): FunctionWriter {
  const f = new FunctionWriter('depthwiseConv2d', DEPTHWISE_PARAMS.length, { fma });
  const p = Object.fromEntries(DEPTHWISE_PARAMS.map((name, i) => [name, f.params[i]])) as Record<(typeof DEPTHWISE_PARAMS)[number], Local>;
  const i32 = () => f.local('i32');
  const [img, oy, ox, c, ky, kx, by, bx, ky0, ky1, kx0, kx1, xp, wp, yp, t] = Array.from({ length: 16 }, i32);
  const [pix, xstep, c16end, c4end, xImg] = Array.from({ length: 5 }, i32);
  const acc = [0, 1, 2, 3].map(() => f.local('v128'));

  /** first = ceil(-base / d) when base < 0 else 0; last = min(k, ceil((len - base) / d)): taps inside [0, len). */
  const tapRange = (base: Local, d: Local, len: Local, k: Local, first: Local, last: Local) => {
    f.i32(0).get(d).i32(1).sub().get(base).sub().get(d).div();
    f.i32(0);
    f.get(base).i32(0).ltS();
    f.select().set(first);
    f.get(len).get(base).sub().get(d).add().i32(1).sub().get(d).div().set(t);
    f.get(t).get(k).get(t).get(k).ltS().select().set(last);
  };

  /** Channels c.. up to `end` (bytes), `vectors` four-float vectors at a time, or one float (`single`: lane 0). */
  const channels = (vectors: number, end: Local, single = false) => {
    const load = (offset: number) => (single ? f.loadSplat(offset) : f.load(offset));
    /** Pushes the vector (or broadcast float) at pointer + offset. */
    const at = (pointer: Local, offset: number) => {
      f.get(pointer);
      load(offset);
    };
    f.for(c, c, end, single ? 4 : 16 * vectors, () => {
      for (let j = 0; j < vectors; j++) f.splat(0).set(acc[j]!);
      f.get(p.flags).i32(DEPTHWISE_BIAS).and32();
      f.if(() => {
        for (let j = 0; j < vectors; j++) {
          f.get(p.bias).get(c).add();
          load(16 * j).set(acc[j]!);
        }
      });
      f.for(ky, ky0, ky1, 1, () => {
        // xp = image + ((by + ky dh) w + bx + kx0 dw) * pix + c; wp = w + (ky kw + kx0) * pix + c
        f.get(by).get(ky).get(p.dh).mul().add().get(p.w_).mul().get(bx).add().get(kx0).get(p.dw).mul().add();
        f.get(pix).mul().get(xImg).add().get(c).add().set(xp);
        f.get(ky).get(p.kw).mul().get(kx0).add().get(pix).mul().get(p.w).add().get(c).add().set(wp);
        f.for(kx, kx0, kx1, 1, () => {
          for (let j = 0; j < vectors; j++) {
            f.mulAdd(acc[j]!, () => at(xp, 16 * j), () => at(wp, 16 * j));
          }
          f.inc(xp, xstep).inc(wp, pix);
        });
      });
      f.get(p.flags).i32(DEPTHWISE_RELU).and32();
      f.if(() => {
        for (let j = 0; j < vectors; j++) f.get(acc[j]!).splat(0).fmax().set(acc[j]!);
      });
      for (let j = 0; j < vectors; j++) {
        f.get(yp).get(c).add().get(acc[j]!);
        if (single) f.storeLane0(16 * j);
        else f.store(16 * j);
      }
    });
  };

  f.get(p.c).i32(4).mul().set(pix);
  f.get(pix).get(p.dw).mul().set(xstep);
  f.get(pix).i32(48).sub().set(c16end);
  f.get(pix).i32(12).sub().set(c4end);
  f.get(p.x).set(xImg);
  f.get(p.y).set(yp);
  f.for(img, 0, p.n, 1, () => {
    f.for(oy, 0, p.oh, 1, () => {
      f.get(oy).get(p.sh).mul().get(p.pt).sub().set(by);
      tapRange(by, p.dh, p.h, p.kh, ky0, ky1);
      f.for(ox, 0, p.ow, 1, () => {
        f.get(ox).get(p.sw).mul().get(p.pl).sub().set(bx);
        tapRange(bx, p.dw, p.w_, p.kw, kx0, kx1);
        f.i32(0).set(c);
        channels(4, c16end);
        channels(1, c4end);
        channels(1, pix, true);
        f.inc(yp, pix);
      });
    });
    f.get(p.h).get(p.w_).mul().get(pix).mul().get(xImg).add().set(xImg);
  });
  return f;
}
