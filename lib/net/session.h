/* session.h - what layers above lib/net may know about a session (internal). */
#ifndef GC_SESSION_H
#define GC_SESSION_H

#include "gradcam.h"

const gc_model          *gc_session_model(const gc_session *s);
const gc_session_config *gc_session_config_of(const gc_session *s);
/* 1 if the session runs the whole network (no input_layer). */
int gc_session_is_full(const gc_session *s);

/* One extension slot for per-session state owned by a higher layer (the
 * explainer's buffers). Set once; free_fn runs in gc_session_free. */
void *gc_session_ext(const gc_session *s);
void  gc_session_set_ext(gc_session *s, void *ext, void (*free_fn)(void *));

#endif
