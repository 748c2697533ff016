/** GGUF metadata values: each keeps its wire type so files round-trip exactly. */
export enum GgufValueType {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
}

export type GgufScalarType = Exclude<GgufValueType, GgufValueType.ARRAY>;

/** JS representation of a scalar: 64-bit integers are bigint, everything else number/boolean/string. */
export type GgufScalar = number | bigint | boolean | string;

export type GgufValue =
  | { readonly type: GgufScalarType; readonly value: GgufScalar }
  | { readonly type: GgufValueType.ARRAY; readonly itemType: GgufScalarType; readonly value: readonly GgufScalar[] };

export type GgufMetadata = ReadonlyMap<string, GgufValue>;

// Constructors for writing metadata.
export const gguf = {
  u8: (v: number): GgufValue => ({ type: GgufValueType.UINT8, value: v }),
  i8: (v: number): GgufValue => ({ type: GgufValueType.INT8, value: v }),
  u16: (v: number): GgufValue => ({ type: GgufValueType.UINT16, value: v }),
  i16: (v: number): GgufValue => ({ type: GgufValueType.INT16, value: v }),
  u32: (v: number): GgufValue => ({ type: GgufValueType.UINT32, value: v }),
  i32: (v: number): GgufValue => ({ type: GgufValueType.INT32, value: v }),
  f32: (v: number): GgufValue => ({ type: GgufValueType.FLOAT32, value: v }),
  f64: (v: number): GgufValue => ({ type: GgufValueType.FLOAT64, value: v }),
  u64: (v: bigint | number): GgufValue => ({ type: GgufValueType.UINT64, value: BigInt(v) }),
  i64: (v: bigint | number): GgufValue => ({ type: GgufValueType.INT64, value: BigInt(v) }),
  bool: (v: boolean): GgufValue => ({ type: GgufValueType.BOOL, value: v }),
  str: (v: string): GgufValue => ({ type: GgufValueType.STRING, value: v }),
  arr: (itemType: GgufScalarType, value: readonly GgufScalar[]): GgufValue => ({
    type: GgufValueType.ARRAY,
    itemType,
    value,
  }),
};
