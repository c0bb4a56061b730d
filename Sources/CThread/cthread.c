// Everything is inline in include/cthread.h; SwiftPM wants a source file in a C target.
#include "cthread.h"
