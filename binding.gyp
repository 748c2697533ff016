{
  # Native CPU kernels (build/Release/peregrine.node), loaded by src/kernels/native/native-backend.ts.
  # The kernels are compiled once per instruction set from native/kernels-isa.inc, each in its own
  # static library with its own -m flags; native/cpu-dispatch.cc picks one at runtime.
  'variables': {
    'pg_cflags': ['-O3', '-fno-math-errno', '-fPIC', '-Wno-unused-parameter'],
    'pg_avx2': ['-mavx2', '-mfma', '-mf16c'],
    'pg_avx512': ['-mavx2', '-mfma', '-mf16c', '-mavx512f', '-mavx512bw', '-mavx512vl', '-mavx512dq', '-mavx512vnni'],
  },
  'target_defaults': {
    'cflags_cc': ['<@(pg_cflags)'],
    'conditions': [
      ['OS=="linux"', {
        # GCC 12 reports _mm512_undefined_* inside its own intrinsics headers as uninitialized
        'cflags_cc': ['-Wno-maybe-uninitialized', '-Wno-uninitialized'],
      }],
      ['OS=="mac"', {
        'xcode_settings': {'OTHER_CPLUSPLUSFLAGS': ['<@(pg_cflags)'], 'MACOSX_DEPLOYMENT_TARGET': '11.0'},
      }],
      ['target_arch!="x64"', {
        # arm64 compilers fuse a * b + c by default; the scalar kernels must round as the x86 ones do
        'cflags_cc': ['-ffp-contract=off'],
        'xcode_settings': {'OTHER_CPLUSPLUSFLAGS': ['-ffp-contract=off']},
      }],
    ],
  },
  'targets': [
    {
      'target_name': 'peregrine',
      'sources': [
        'native/peregrine-addon.cc',
        'native/context.cc',
        'native/gelu.cc',
        'native/thread-pool.cc',
        'native/weight-faulter.cc',
        'native/cpu-dispatch.cc',
        'native/quantize.cc',
      ],
      'dependencies': ['peregrine_kernels_scalar'],
      'conditions': [
        ['target_arch=="x64"', {
          'dependencies': ['peregrine_kernels_avx2', 'peregrine_kernels_avx512', 'peregrine_kernels_avx512_bf16', 'peregrine_kernels_amx'],
        }],
      ],
    },
    {
      'target_name': 'peregrine_kernels_scalar',
      'type': 'static_library',
      'sources': ['native/kernels-scalar.cc'],
    },
  ],
  'conditions': [
    ['target_arch=="x64"', {
      'targets': [
        {
          'target_name': 'peregrine_kernels_avx2',
          'type': 'static_library',
          'sources': ['native/kernels-avx2.cc'],
          'cflags_cc': ['<@(pg_avx2)'],
          'xcode_settings': {'OTHER_CPLUSPLUSFLAGS': ['<@(pg_cflags)', '<@(pg_avx2)']},
        },
        {
          'target_name': 'peregrine_kernels_avx512',
          'type': 'static_library',
          'sources': ['native/kernels-avx512.cc'],
          'cflags_cc': ['<@(pg_avx512)'],
          'xcode_settings': {'OTHER_CPLUSPLUSFLAGS': ['<@(pg_cflags)', '<@(pg_avx512)']},
        },
        {
          'target_name': 'peregrine_kernels_avx512_bf16',
          'type': 'static_library',
          'sources': ['native/kernels-avx512-bf16.cc'],
          'cflags_cc': ['<@(pg_avx512)', '-mavx512bf16'],
          'xcode_settings': {'OTHER_CPLUSPLUSFLAGS': ['<@(pg_cflags)', '<@(pg_avx512)', '-mavx512bf16']},
        },
        {
          'target_name': 'peregrine_kernels_amx',
          'type': 'static_library',
          'sources': ['native/kernels-amx.cc'],
          'cflags_cc': ['<@(pg_avx512)', '-mavx512bf16', '-mavx512vbmi', '-mamx-tile', '-mamx-int8', '-mamx-bf16'],
          'xcode_settings': {'OTHER_CPLUSPLUSFLAGS': ['<@(pg_cflags)', '<@(pg_avx512)', '-mavx512bf16', '-mavx512vbmi', '-mamx-tile', '-mamx-int8', '-mamx-bf16']},
        },
      ],
    }],
  ],
}
