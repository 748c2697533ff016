/** Named scratch buffers that grow to the largest size asked for and are then reused. */
export class Workspace {
  private readonly f32 = new Map<string, Float32Array>();
  private readonly i32 = new Map<string, Int32Array>();

  get(name: string, length: number): Float32Array {
    let buf = this.f32.get(name);
    if (!buf || buf.length < length) {
      buf = new Float32Array(length);
      this.f32.set(name, buf);
    }
    return buf.subarray(0, length);
  }

  getInt(name: string, length: number): Int32Array {
    let buf = this.i32.get(name);
    if (!buf || buf.length < length) {
      buf = new Int32Array(length);
      this.i32.set(name, buf);
    }
    return buf.subarray(0, length);
  }
}
