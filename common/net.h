/* Small network helpers with platform parts. */
#ifndef WINCRI_COMMON_NET_H
#define WINCRI_COMMON_NET_H

/* 4 for an IPv4 literal, 6 for IPv6, 0 for anything else. */
int wc_inet_family(const char *text);

#endif
