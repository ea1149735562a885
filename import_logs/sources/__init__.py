"""Where lines come from: what a source is, by its kind (``kinds``: a file, a stream, an object of a store), the
inputs named and the blocks they are cut into (``files``), compressed content (``compressed``), first lines
(``heads``), rotated copies (``rotation``), objects of a store (``objects``, ``cloud_auth``), and following live
files (``follow``; what a service restarted reads first, ``restart``; standard input as it grows, ``growing``).

Each source is read as blocks of whole lines; the planner (:mod:`import_logs.pipeline.plan`) decides where each
starts and cuts it into jobs, the follower keeps reading live files as they grow and across rotations.
"""
