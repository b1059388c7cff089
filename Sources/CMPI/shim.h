// Open MPI's mpi.h (Debian's libopenmpi-dev, via pkg-config "ompi-c"). Its predefined handles are
// macros over addresses of globals, which Swift does not import: these functions name them.
#include <mpi.h>

static inline MPI_Comm glimpse_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype glimpse_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype glimpse_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype glimpse_mpi_byte(void) { return MPI_BYTE; }
static inline MPI_Datatype glimpse_mpi_int(void) { return MPI_INT; }
static inline MPI_Op glimpse_mpi_sum(void) { return MPI_SUM; }
static inline MPI_Op glimpse_mpi_min(void) { return MPI_MIN; }
static inline MPI_Op glimpse_mpi_max(void) { return MPI_MAX; }
static inline MPI_Errhandler glimpse_mpi_errors_return(void) { return MPI_ERRORS_RETURN; }
static inline int glimpse_mpi_success(void) { return MPI_SUCCESS; }
static inline void *glimpse_mpi_in_place(void) { return MPI_IN_PLACE; }
static inline int glimpse_mpi_max_error_string(void) { return MPI_MAX_ERROR_STRING; }
static inline int glimpse_mpi_thread_serialized(void) { return MPI_THREAD_SERIALIZED; }
static inline int glimpse_mpi_thread_multiple(void) { return MPI_THREAD_MULTIPLE; }
