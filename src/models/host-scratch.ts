/**
 * Named host Int32Array scratch (block tables, slot mappings, argmax results) that grows to the
 * largest length asked for and is then reused: get(name) is valid until the next get of that name.
 */
export class HostScratch {
  private readonly i32 = new Map<string, Int32Array>();

  /** host [length] int32 scratch `name` */
  getInt(name: string, length: number): Int32Array {
    let buf = this.i32.get(name);
    if (!buf || buf.length < length) {
      buf = new Int32Array(length);
      this.i32.set(name, buf);
    }
    return buf.subarray(0, length);
  }

  /** drops every buffer (the garbage collector takes them) */
  protected clearHost(): void {
    this.i32.clear();
  }
}
