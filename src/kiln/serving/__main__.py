"""`python -m kiln.serving`: one model server (one endpoint instance), the inference container's `serve`.

Environment (reference §6.2), as the hosting service or a container runtime sets it:
`SAGEMAKER_BIND_TO_PORT` (8080), `SAGEMAKER_PROGRAM`, `SAGEMAKER_SUBMIT_DIRECTORY` (default
`<model dir>/code`), `SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT`, `SAGEMAKER_MAX_PAYLOAD_IN_MB`, and
Kiln's `KILN_SERVING_FRAMEWORK` (pytorch, sklearn, xgboost: which default handlers
apply) and `KILN_OPT_ML` (where /opt/ml is, when private mounts are unavailable). With
`SAGEMAKER_MULTI_MODEL=true` no model is loaded at start: the platform loads them through the
multi-model `/models` API (`multimodel.py`, budget `KILN_MULTIMODEL_MEMORY_BYTES`).

The model is loaded before the port opens: a model that will not load makes the process exit 1 with
the reason as its last output line, which the hosting service reports as the endpoint's FailureReason.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
import traceback


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stdout)
    log = logging.getLogger("kiln.serving")
    opt_ml = os.environ.get("KILN_OPT_ML", "/opt/ml")
    model_dir = os.environ.get("SM_MODEL_DIR") or os.path.join(opt_ml, "model")
    submit = os.environ.get("SAGEMAKER_SUBMIT_DIRECTORY") or os.path.join(model_dir, "code")
    if submit.startswith("/opt/ml/") and opt_ml != "/opt/ml":
        submit = os.path.join(opt_ml, submit[len("/opt/ml/"):])
    program = os.environ.get("SAGEMAKER_PROGRAM") or ("inference.py" if os.path.exists(
        os.path.join(submit, "inference.py")) else None)
    framework = os.environ.get("KILN_SERVING_FRAMEWORK")
    port = int(os.environ.get("SAGEMAKER_BIND_TO_PORT", "8080"))
    started = time.monotonic()
    try:
        from kiln.serving.app import ModelServerApp
        from kiln.serving.defaults import for_framework
        from kiln.serving.handlers import HandlerService, load_user_module

        module = load_user_module(submit, program)
        service: HandlerService | None = None
        multimodel = None
        if os.environ.get("SAGEMAKER_MULTI_MODEL", "").lower() == "true":  # models are loaded on request
            from kiln.serving.multimodel import MultiModelService

            multimodel = MultiModelService.from_environment(for_framework(framework), module, program)
        else:
            service = HandlerService(model_dir, for_framework(framework), module,
                                     os.environ.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT"))
            service.load()
    except Exception as exc:
        traceback.print_exc(file=sys.stdout)
        print(f"KILN_MODEL_LOAD_FAILED: {type(exc).__name__}: {exc}", flush=True)
        return 1
    setup_ms = (time.monotonic() - started) * 1000
    import gc

    gc.freeze()  # the framework and the model stay out of the collector's way: no long GC pauses
    log.info("model loaded in %.0f ms (framework %s, entry point %s); listening on %s", setup_ms,
             framework or "generic", program or "-", os.environ.get("KILN_SERVING_UDS") or f"port {port}")
    print(f"KILN_MODEL_SETUP_MS={setup_ms:.1f}", flush=True)
    app = ModelServerApp(service, float(os.environ.get("SAGEMAKER_MAX_PAYLOAD_IN_MB", "6")), multimodel=multimodel)
    # KILN_SERVING_UDS: Kiln's own replicas listen on a unix socket (no TCP stack on the hop from the
    # server); any other client uses SAGEMAKER_BIND_TO_PORT.
    uds = os.environ.get("KILN_SERVING_UDS") or None
    host = os.environ.get("KILN_SERVING_HOST", "127.0.0.1")
    if os.environ.get("KILN_SERVING_HTTP", "lean") == "uvicorn":
        import uvicorn

        where = {"uds": uds} if uds else {"host": host, "port": port}
        uvicorn.run(app, **where, log_level="warning", access_log=False, lifespan="off",  # type: ignore[arg-type]
                    loop="uvloop", http="httptools", server_header=False, date_header=False,
                    timeout_keep_alive=int(os.environ.get("KILN_SERVING_KEEPALIVE", "300")))
        return 0
    import uvloop

    from kiln.serving.httpserver import serve

    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(serve(app, host=host, port=port, uds=uds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
