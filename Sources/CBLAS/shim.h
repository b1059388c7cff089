// OpenBLAS's cblas.h (Debian: /usr/include/x86_64-linux-gnu/openblas-pthread/, via pkg-config "openblas").
#include <cblas.h>
