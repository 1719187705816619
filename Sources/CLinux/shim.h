// Linux interfaces the Glibc module does not export: timerfd (the scheduler's wall-clock timer).
#include <sys/timerfd.h>
