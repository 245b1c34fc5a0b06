"""refapp: the reference application Hearth's apps role deploys and its tests exercise.

One image, one package, several container kinds (web, worker, beat, a migrate job); every
setting comes from the environment the platform injects. See examples/refapp/README.md.
"""
