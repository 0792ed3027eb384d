/** Learning-rate schedules per optimizer step: linear warmup, then cosine decay (timm CosineLRScheduler, t_in_epochs=False). */
export interface ScheduleConfig {
  type: 'cosine' | 'constant' | 'step';
  baseLr: number;
  totalSteps: number;
  warmupSteps?: number;
  warmupLr?: number;
  minLr?: number;
  /** step schedule: multiply by `gamma` every `stepSize` steps. */
  stepSize?: number;
  gamma?: number;
}

export function learningRate(c: ScheduleConfig, step: number): number {
  const warm = c.warmupSteps ?? 0;
  if (step < warm) {
    const w0 = c.warmupLr ?? 0;
    return w0 + ((c.baseLr - w0) * step) / warm;
  }
  if (c.type === 'constant') return c.baseLr;
  if (c.type === 'step') return c.baseLr * (c.gamma ?? 0.1) ** Math.floor((step - warm) / Math.max(1, c.stepSize ?? 1));
  const span = Math.max(1, c.totalSteps - warm);
  const t = Math.min(1, (step - warm) / span);
  const min = c.minLr ?? 0;
  return min + 0.5 * (c.baseLr - min) * (1 + Math.cos(Math.PI * t));
}
