/**
 * Memory for the matrices a backend uploads, many to a mapping. Given one huge-page mapping each,
 * a matrix was rounded up to whole 2 MiB pages, and the kernels touch (make resident) every page
 * of it: 55 MiB, 8%, on 1B Q4_0's 663 MiB of tensors. Here they lie one after another, each at a
 * 4 KiB boundary, in mappings of `chunkBytes` (or one of a matrix's own size, for a bigger one):
 * the part of a mapping no matrix has used yet is never touched, address space and not memory.
 *
 * Ownership: each matrix is a view of its mapping's ArrayBuffer, and the mapping is freed (by the
 * garbage collector, as any weight buffer of the native backend) once no view of it is left; the
 * arena holds the mapping it is filling through a WeakRef only, so a model's weights free their
 * memory when the model lets them go, a matrix freed alone keeps its mapping while its neighbours live.
 */
export class WeightArena {
  private current?: WeakRef<ArrayBuffer>;
  /** bytes of `current` handed out */
  private used = 0;
  /** the mapping `reserve` made, held until `take` hands out its first bytes (from then on their views hold it) */
  private reserved?: ArrayBuffer;

  constructor(
    /** a fresh zeroed mapping of at least `byteLength` bytes (huge pages: NativeAddon.allocateWeightBuffer) */
    private readonly allocate: (byteLength: number) => ArrayBuffer,
    readonly chunkBytes = 256 * 2 ** 20,
  ) {}

  /**
   * A mapping made now for the next matrices, at least `byteLength` bytes of them (its size:
   * `chunkBytes` or more); its first `byteLength` bytes, for the caller to prepare (fault in) before
   * `take` hands them out.
   */
  reserve(byteLength: number): Uint8Array {
    const buffer = this.allocate(Math.max(this.chunkBytes, byteLength));
    this.reserved = buffer;
    this.current = new WeakRef(buffer);
    this.used = 0;
    return new Uint8Array(buffer, 0, byteLength);
  }

  /** `byteLength` zeroed bytes, 4 KiB aligned within a huge-page aligned mapping */
  take(byteLength: number): Uint8Array {
    let start = Math.ceil(this.used / 4096) * 4096;
    let buffer = this.current?.deref();
    if (!buffer || start + byteLength > buffer.byteLength) {
      buffer = this.allocate(Math.max(this.chunkBytes, byteLength));
      this.current = new WeakRef(buffer);
      start = 0;
    }
    this.used = start + byteLength;
    this.reserved = undefined;
    return new Uint8Array(buffer, start, byteLength);
  }
}
