"""accelerate: diffusers and transformers use it (if its metadata says it is installed) for
meta-device model construction, which makes loading the 2 GB model faster and lighter.

Its CLI sub-package is imported transitively (``accelerate.utils.other`` -> ``commands.config``)
and optionally pulls boto3 for SageMaker; that path is excluded in the spec, the metadata is not.
"""

from PyInstaller.utils.hooks import copy_metadata

datas = copy_metadata("accelerate")
