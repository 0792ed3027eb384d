/**
 * Errors about one file (or dataset sample): the message starts with its path (or the name a caller gave
 * bytes), then says what is wrong in one line. Every reader of untrusted files throws only these; the
 * underlying exception, when there is one, is kept as `cause` for debugging, never in the message.
 */
export class FileError extends Error {
  readonly problem: string;

  constructor(
    readonly file: string,
    problem: string,
    options?: { cause?: unknown },
  ) {
    const line = problem.replace(/\s*[\r\n]+\s*/g, ' ');
    super(`${file}: ${line}`, options);
    this.problem = line;
    this.name = new.target.name;
  }
}

/** A weights file (safetensors, PyTorch checkpoint, ONNX) that cannot be read or does not hold what it claims. */
export class WeightsFormatError extends FileError {}
