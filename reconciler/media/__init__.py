"""Unattended Windows install media: a Windows ISO remastered with an answer file, the VirtIO
drivers and the guest tools, so that Setup runs without hands (docs/unattended.md).

Modules: ``spec`` (the spec's ``build:`` model), ``recipe`` (what a plan carries; the media's
identity), ``answer`` (autounattend.xml), ``isofs`` (reading ISO trees and boot catalogs),
``wim`` (install.wim's image metadata), ``layout`` (what the inputs must hold), ``inputs``
(secrets and ISOs at apply; the cache), ``writer`` (mastering with pycdlib), ``build`` (the
whole build, and describing built media).

Nothing here talks to Mold or imports the planner, executor or CLI.
"""

from __future__ import annotations

from reconciler.media.build import Built, MediaReport, build, describe
from reconciler.media.isofs import MediaError
from reconciler.media.recipe import BUILDER_VERSION, Recipe, SecretRef, Source
from reconciler.media.spec import BuildSpec, UnattendSpec

__all__ = ["Built", "MediaReport", "build", "describe", "MediaError", "BUILDER_VERSION",
           "Recipe", "SecretRef", "Source", "BuildSpec", "UnattendSpec"]
