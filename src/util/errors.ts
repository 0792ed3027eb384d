/** Errors about one file (or dataset sample): the message starts with its path, then says what is wrong. */
export class FileError extends Error {
  constructor(
    readonly file: string,
    readonly problem: string,
  ) {
    super(`${file}: ${problem}`);
    this.name = new.target.name;
  }
}
