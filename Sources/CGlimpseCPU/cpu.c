// CPUID and XGETBV, read once per call. The answers decide which OpenBLAS kernels
// Glimpse runs with (BLAS.selectKernels) and which of its own kernels it dispatches to.
#include "glimpse_cpu.h"

#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static unsigned long long read_xcr0(void) {
    unsigned int eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((unsigned long long)edx << 32) | eax;
}

void glimpse_cpu_identify(glimpse_cpu_info *info) {
    memset(info, 0, sizeof *info);
    unsigned int eax, ebx, ecx, edx;
    if (!__get_cpuid(0, &eax, &ebx, &ecx, &edx)) return;
    unsigned int max_leaf = eax;
    memcpy(info->vendor + 0, &ebx, 4);
    memcpy(info->vendor + 4, &edx, 4);
    memcpy(info->vendor + 8, &ecx, 4);

    __cpuid(1, eax, ebx, ecx, edx);
    int base_family = (eax >> 8) & 0xf, base_model = (eax >> 4) & 0xf;
    int extended_family = (eax >> 20) & 0xff, extended_model = (eax >> 16) & 0xf;
    info->family = base_family == 0xf ? base_family + extended_family : base_family;
    info->model = (base_family == 0x6 || base_family == 0xf) ? (extended_model << 4) + base_model : base_model;
    info->stepping = eax & 0xf;
    info->sse3 = (ecx >> 0) & 1;
    info->ssse3 = (ecx >> 9) & 1;
    info->sse41 = (ecx >> 19) & 1;
    info->sse42 = (ecx >> 20) & 1;
    int fma = (ecx >> 12) & 1, osxsave = (ecx >> 27) & 1, avx = (ecx >> 28) & 1;

    // The OS must save the wider registers, or using them faults: YMM needs XCR0 bits 1-2,
    // ZMM bits 5-7 as well, AMX tiles bits 17-18.
    unsigned long long xcr0 = osxsave ? read_xcr0() : 0;
    int os_ymm = (xcr0 & 0x6) == 0x6;
    int os_zmm = os_ymm && (xcr0 & 0xe0) == 0xe0;
    int os_amx = (xcr0 & 0x60000) == 0x60000;

    info->avx = avx && os_ymm;
    info->fma = fma && os_ymm;
    if (max_leaf >= 7) {
        __cpuid_count(7, 0, eax, ebx, ecx, edx);
        unsigned int leaf7_max_subleaf = eax;
        info->avx2 = ((ebx >> 5) & 1) && os_ymm;
        info->avx512f = ((ebx >> 16) & 1) && os_zmm;
        info->avx512dq = ((ebx >> 17) & 1) && os_zmm;
        info->avx512cd = ((ebx >> 28) & 1) && os_zmm;
        info->avx512bw = ((ebx >> 30) & 1) && os_zmm;
        info->avx512vl = ((ebx >> 31) & 1) && os_zmm;
        info->avx512_vnni = ((ecx >> 11) & 1) && os_zmm;
        info->avx512_fp16 = ((edx >> 23) & 1) && os_zmm;
        info->amx_bf16 = ((edx >> 22) & 1) && os_amx;
        info->amx_tile = ((edx >> 24) & 1) && os_amx;
        info->amx_int8 = ((edx >> 25) & 1) && os_amx;
        if (leaf7_max_subleaf >= 1) {
            __cpuid_count(7, 1, eax, ebx, ecx, edx);
            info->avx512_bf16 = ((eax >> 5) & 1) && os_zmm;
        }
    }

    __cpuid(0x80000000, eax, ebx, ecx, edx);
    if (eax >= 0x80000004) {
        unsigned int words[12];
        for (unsigned int leaf = 0; leaf < 3; leaf++) {
            __cpuid(0x80000002 + leaf, words[leaf * 4], words[leaf * 4 + 1], words[leaf * 4 + 2], words[leaf * 4 + 3]);
        }
        memcpy(info->brand, words, 48);
        info->brand[48] = 0;
    }
}

#else

void glimpse_cpu_identify(glimpse_cpu_info *info) { memset(info, 0, sizeof *info); }

#endif
