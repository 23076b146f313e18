/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/* xskit's dispatcher with the configuration of libxdp's version 3 (libxdp
 * 1.6 and later): 128 bytes, is_xdp_devbound added at byte 124. The code
 * is the same; see xdp_dispatcher.c. */
#define XSKIT_DISP_V3
#include "xdp_dispatcher.c"
