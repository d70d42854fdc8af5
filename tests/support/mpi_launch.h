/*
 * mpi_launch — what the tests of data-parallel training need to start
 * `mpirun -np N adalora train` and watch it: whether Open MPI and an
 * MPI-built adalora are here (else the test skips, saying which is
 * missing), mpirun's arguments for a shared 2-core test machine
 * (--oversubscribe; --allow-run-as-root when root, as CI runs), a program
 * started with its output in files, and the pid of one rank.
 *
 * Reports through return values (tests/support never CHECKs).
 */
#ifndef ADA_TESTS_MPI_LAUNCH_H
#define ADA_TESTS_MPI_LAUNCH_H

#include <stddef.h>
#include <sys/types.h>

/* 1 when `mpirun` is on PATH and adalora (the path) was built with MPI
 * (its --version says "mpi: " and not "none"); else 0 with why. */
int mpi_available(const char *adalora, char *why, size_t cap);

/* The launcher's words, NULL-terminated in argv (room for 8), for n
 * processes: mpirun --oversubscribe [--allow-run-as-root] -np N. Returns
 * how many were written. The strings are static. */
int mpi_launcher_argv(int n, const char **argv);

/* The launcher as one adalorad --launcher template ("... -np {n}"). */
const char *mpi_launcher_template(void);

/* Start argv (NULL-terminated) with stdout into out_path and stderr into
 * err_path (NULL: the test's), in its own process group; 0 on failure. */
pid_t launch(const char *const *argv, const char *out_path, const char *err_path);

/* Wait for pid: its exit status, 128 + the signal that killed it, or -1. */
int launch_wait(pid_t pid);

/* Run argv to its end (launch + launch_wait). */
int launch_run(const char *const *argv, const char *out_path, const char *err_path);

/* The pid of the process of rank `rank` (OMPI_COMM_WORLD_RANK in its
 * environment) among the descendants of launcher, or 0. */
pid_t mpi_find_rank(pid_t launcher, int rank);

/* The same among every process whose command line contains needle (a
 * job's directory), or 0. */
pid_t mpi_find_rank_by_cmdline(const char *needle, int rank);

/* Wait (up to timeout_s) until path holds a line containing needle:
 * 1 found, 0 not. Reads the file again every 20 ms. */
int wait_for_line(const char *path, const char *needle, double timeout_s);

#endif
