"""The CDK framework's classes for an app's own code (``from redis_enterprise_export.cdk
import App, TerraformStack``): the same objects as ``synth.cdk``, the one door to the
framework, so an app and this package always share one framework."""

from redis_enterprise_export.synth.cdk import *  # noqa: F403 (the door's whole surface)
from redis_enterprise_export.synth.cdk import __all__  # noqa: F401 (re-exported)
