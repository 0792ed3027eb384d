/** Batched matrix product and transpose as SIMD kernels. */
import { FunctionWriter, type Local } from './assembler.js';

/** `matmul` flags: add a bias row (n floats at `bias`) to every row of c; then clamp at zero (ReLU). */
export const MATMUL_BIAS = 1;
export const MATMUL_RELU = 2;
/**
 * Loop order: each 16-column block of b (two 8-column panels: every 64-byte line of b read once), first
 * copied into `scratch` (k x 16 contiguous floats, so that the row tiles read it from cache in order
 * instead of one row of b per page), through every row tile of a (a is read once per panel), rather than
 * each row tile through every panel (a's tile stays in registers, b is read once per tile, in strides of its
 * row).
 */
export const MATMUL_COLUMNS_FIRST = 4;

/**
 * The flag for the order that re-reads the smaller operand (a: m x k, b: k x n); rows first under 8 rows,
 * where a packed panel would serve fewer than two row tiles.
 */
export function matmulOrder(m: number, n: number): number {
  return n > m && m >= 8 ? MATMUL_COLUMNS_FIRST : 0;
}

/**
 * matmul(a, b, c, batch, m, k, n, aStride, bStride, bias, flags, scratch): c[t] = a[t] (m x k) @ b[t] (k x n) for
 * t < batch, all row-major float32; aStride, bStride are the bytes between batches (0 broadcasts one
 * matrix), c is dense; `flags` adds the bias row and / or a ReLU (a conv's or Linear's epilogue, applied in
 * registers); `scratch` holds 64 k bytes for MATMUL_COLUMNS_FIRST. Tiles of 4 rows x 8 columns keep eight
 * accumulators in registers: per k, two vector loads of b's row, four broadcast loads of a's column and
 * eight multiply-adds (4 x 8 measured fastest: 5 or 6 rows spill, unrolling k was slower). That is the
 * 128-bit bound without FMA here: 16 multiplies and adds per 64 flops, ~42 GFLOP/s; with relaxed SIMD's
 * fused multiply-add ~55. Row tails go one row at a time, column tails 4 then 1 wide (lane 0 of a broadcast).
 */
export function matmulFunction(fma = false): FunctionWriter {
  const f = new FunctionWriter('matmul', 12, { fma });
  const [a, b, c, batch, m, k, n, aStride, bStride, bias, flags, scratch] = f.params;
  const i32 = () => f.local('i32');
  const [t, i, j, kk, ap, bp, cp, rowA, rowB, m4end, n16end, n8end, n4end] = Array.from({ length: 13 }, i32);
  // Where the tiles read b's panel and the bytes between its rows: b itself (rowB), or the packed copy (4 x its width).
  const [panel, panelStep] = [i32(), i32()];
  // Byte offsets of rows 1, 2, 3 of a tile in a and in b / c.
  const rowsA = [rowA, i32(), i32()];
  const rowsB = [rowB, i32(), i32()];
  const acc = Array.from({ length: 8 }, () => f.local('v128'));
  const [b0, b1, av] = [f.local('v128'), f.local('v128'), f.local('v128')];
  /** Pushes base + r rows. */
  const rowOffset = (base: Local, r: number, rows: Local[]) => {
    f.get(base);
    if (r > 0) f.get(rows[r - 1]!).add();
  };

  const tile = (rows: number, width: 8 | 4 | 1) => {
    const vectors = width === 8 ? 2 : 1;
    const load = (offset: number) => (width === 1 ? f.loadSplat(offset) : f.load(offset));
    for (let r = 0; r < rows; r++) for (let v = 0; v < vectors; v++) f.splat(0).set(acc[2 * r + v]!);
    f.get(flags).i32(MATMUL_BIAS).and32();
    f.if(() => {
      for (let v = 0; v < vectors; v++) {
        f.get(j).i32(4).mul().get(bias).add();
        load(16 * v).set(acc[v]!);
      }
      for (let r = 1; r < rows; r++) for (let v = 0; v < vectors; v++) f.get(acc[v]!).set(acc[2 * r + v]!);
    });
    // ap = a + i rowA; bp = the panel's first row (b + 4 j in place, or the packed copy)
    f.get(i).get(rowA).mul().get(a).add().set(ap);
    f.get(panel).set(bp);
    f.for(kk, 0, k, 1, () => {
      f.get(bp);
      load(0).set(b0);
      if (width === 8) f.get(bp).load(16).set(b1);
      for (let r = 0; r < rows; r++) {
        rowOffset(ap, r, rowsA);
        f.loadSplat().set(av);
        f.mulAdd(acc[2 * r]!, () => f.get(av), () => f.get(b0));
        if (width === 8) f.mulAdd(acc[2 * r + 1]!, () => f.get(av), () => f.get(b1));
      }
      f.inc(ap, 4).inc(bp, panelStep);
    });
    f.get(flags).i32(MATMUL_RELU).and32();
    f.if(() => {
      for (let r = 0; r < rows; r++) for (let v = 0; v < vectors; v++) f.get(acc[2 * r + v]!).splat(0).fmax().set(acc[2 * r + v]!);
    });
    // cp = c + i rowB + 4 j (c's rows are n wide, as b's)
    f.get(i).get(rowB).mul().get(c).add().get(j).i32(4).mul().add().set(cp);
    for (let r = 0; r < rows; r++) {
      if (width === 1) {
        rowOffset(cp, r, rowsB);
        f.get(acc[2 * r]!).storeLane0();
        continue;
      }
      rowOffset(cp, r, rowsB);
      f.get(acc[2 * r]!).store();
      if (width === 8) {
        rowOffset(cp, r, rowsB);
        f.get(acc[2 * r + 1]!).store(16);
      }
    }
  };
  /** The tiles read b's columns from j on, in place. */
  const inPlace = () => f.get(j).i32(4).mul().get(b).add().set(panel);
  /** Every column panel (8, then 4, then 1 wide) of the row tile at i. */
  const columns = (rows: number) => {
    f.i32(0).set(j);
    const panelTile = (width: 8 | 4 | 1) => {
      inPlace();
      tile(rows, width);
    };
    f.for(j, j, n8end, 8, () => panelTile(8));
    f.for(j, j, n4end, 4, () => panelTile(4));
    f.for(j, j, n, 1, () => panelTile(1));
  };
  /** Every row tile (4, then 1 high) of the column panel at j. */
  const rowTiles = (width: 8 | 4 | 1) => {
    f.i32(0).set(i);
    f.for(i, i, m4end, 4, () => tile(4, width));
    f.for(i, i, m, 1, () => tile(1, width));
  };
  /**
   * Copies `width` columns of b from j (k rows; 16: both 8-column panels of a 64-byte line, so that each line
   * of b is read once) into scratch, contiguous, for the tiles to read.
   */
  const pack = (width: 8 | 16) => {
    inPlace();
    f.get(scratch).set(bp);
    f.for(kk, 0, k, 1, () => {
      for (let v = 0; v < width / 4; v++) f.get(bp).get(panel).load(16 * v).store(16 * v);
      f.inc(panel, rowB).inc(bp, 4 * width);
    });
    f.i32(4 * width).set(panelStep);
  };

  f.get(k).i32(4).mul().set(rowA);
  f.get(n).i32(4).mul().set(rowB);
  for (const r of [2, 3]) {
    f.get(rowA).i32(r).mul().set(rowsA[r - 1]!);
    f.get(rowB).i32(r).mul().set(rowsB[r - 1]!);
  }
  f.get(m).i32(3).sub().set(m4end);
  f.get(n).i32(15).sub().set(n16end);
  f.get(n).i32(7).sub().set(n8end);
  f.get(n).i32(3).sub().set(n4end);
  f.for(t, 0, batch, 1, () => {
    f.get(flags).i32(MATMUL_COLUMNS_FIRST).and32();
    f.ifElse(
      () => {
        f.i32(0).set(j);
        f.for(j, j, n16end, 16, () => {
          pack(16);
          f.get(scratch).set(panel);
          rowTiles(8);
          f.inc(j, 8);
          f.get(scratch).i32(32).add().set(panel);
          rowTiles(8);
          f.inc(j, -8);
        });
        f.for(j, j, n8end, 8, () => {
          pack(8);
          f.get(scratch).set(panel);
          rowTiles(8);
        });
        f.get(rowB).set(panelStep);
        const inPlaceTiles = (width: 4 | 1) => {
          inPlace();
          rowTiles(width);
        };
        f.for(j, j, n4end, 4, () => inPlaceTiles(4));
        f.for(j, j, n, 1, () => inPlaceTiles(1));
      },
      () => {
        f.get(rowB).set(panelStep);
        f.i32(0).set(i);
        f.for(i, i, m4end, 4, () => columns(4));
        f.for(i, i, m, 1, () => columns(1));
      },
    );
    f.inc(a, aStride).inc(b, bStride);
    f.get(m).get(rowB).mul().get(c).add().set(c);
  });
  return f;
}

/** transpose(src, dst, batch, rows, cols): dst[t] = src[t]^T for each (rows x cols) float32 matrix. */
export function transposeFunction(): FunctionWriter {
  const f = new FunctionWriter('transpose', 5);
  const [src, dst, batch, rows, cols] = f.params;
  const [t, r, c, sp, dp, colStep] = Array.from({ length: 6 }, () => f.local('i32'));
  f.get(rows).i32(4).mul().set(colStep);
  f.get(src).set(sp);
  f.for(t, 0, batch, 1, () => {
    f.for(r, 0, rows, 1, () => {
      // dst row r of the transposed block starts at column r: dst + 4 r, stepping a column (rows floats).
      f.get(r).i32(4).mul().get(dst).add().set(dp);
      f.for(c, 0, cols, 1, () => {
        f.get(dp).get(sp).copy32();
        f.inc(sp, 4).inc(dp, colStep);
      });
    });
    f.get(rows).get(cols).mul().i32(4).mul().get(dst).add().set(dst);
  });
  return f;
}
