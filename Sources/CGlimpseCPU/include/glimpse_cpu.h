#ifndef GLIMPSE_CPU_H
#define GLIMPSE_CPU_H

/// What CPUID (and XGETBV, for the register state the operating system saves) says about
/// this CPU. A vector feature counts only when the OS also enables its registers.
typedef struct {
    char vendor[13];   // "GenuineIntel", "AuthenticAMD", ...
    char brand[49];    // the marketing name, for example "AMD EPYC 9R14 96-Core Processor"
    int family;        // display family (base + extended)
    int model;         // display model (extended model folded in where the vendor does)
    int stepping;
    int sse3, ssse3, sse41, sse42;
    int avx, fma, avx2;
    int avx512f, avx512cd, avx512bw, avx512dq, avx512vl;
    int avx512_bf16, avx512_fp16, avx512_vnni;
    int amx_tile, amx_bf16, amx_int8;
} glimpse_cpu_info;

/// Fills `info` from CPUID. On a non-x86 CPU every field is zero or empty.
void glimpse_cpu_identify(glimpse_cpu_info *info);

/// Makes a DYNAMIC_ARCH OpenBLAS, already loaded, run the kernels of `core_name` (an
/// OPENBLAS_CORETYPE value such as "Haswell" or "SkylakeX") from now on, in this process:
/// it sets OPENBLAS_CORETYPE for OpenBLAS's own selection, runs it again, then restores
/// the variable. Call it before any BLAS call is in flight. Returns 0 on success, -1 when
/// this OpenBLAS cannot switch (not a DYNAMIC_ARCH build: nothing changed).
int glimpse_openblas_switch_core(const char *core_name);

/// Stops OpenBLAS's worker threads (they would spin for about 0.1 s after starting and after
/// each threaded call); OpenBLAS starts them again if a later call runs on several threads.
/// Returns 0, or -1 when this OpenBLAS does not export blas_thread_shutdown_ (nothing done).
int glimpse_openblas_stop_threads(void);

#endif
