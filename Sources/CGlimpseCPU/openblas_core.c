// Switching a DYNAMIC_ARCH OpenBLAS to other kernels inside the running process.
//
// OpenBLAS picks its kernel table (the global `gotoblas`) in its library constructor,
// before main, from OPENBLAS_CORETYPE or its own CPU model list. Its exported
// gotoblas_dynamic_quit() forgets that choice and gotoblas_dynamic_init() makes it again,
// reading OPENBLAS_CORETYPE as at load time; kernels are looked up through `gotoblas` at
// every call, so the next product runs the new kernels. Declared weak: an OpenBLAS built
// for one CPU (no DYNAMIC_ARCH) lacks them, and then nothing changes.
#include "glimpse_cpu.h"

#include <stdlib.h>
#include <string.h>

extern void gotoblas_dynamic_init(void) __attribute__((weak));
extern void gotoblas_dynamic_quit(void) __attribute__((weak));

int glimpse_openblas_switch_core(const char *core_name) {
    if (!gotoblas_dynamic_init || !gotoblas_dynamic_quit || !core_name) return -1;
    const char *previous = getenv("OPENBLAS_CORETYPE");
    char *saved = previous ? strdup(previous) : NULL;
    setenv("OPENBLAS_CORETYPE", core_name, 1);
    gotoblas_dynamic_quit();
    gotoblas_dynamic_init();
    if (saved) {
        setenv("OPENBLAS_CORETYPE", saved, 1);
        free(saved);
    } else {
        unsetenv("OPENBLAS_CORETYPE");
    }
    return 0;
}

// OpenBLAS's worker threads spin (sched_yield) for about 0.1 s after they start and after
// every threaded call before they sleep; they start when the library loads. A process that
// runs OpenBLAS on one thread (Parallel.use(cores:)) stops them: blas_thread_shutdown_ joins
// them, and OpenBLAS starts them again by itself if a later call runs on several threads.
extern int blas_thread_shutdown_(void) __attribute__((weak));

int glimpse_openblas_stop_threads(void) {
    if (!blas_thread_shutdown_) return -1;
    return blas_thread_shutdown_();
}
