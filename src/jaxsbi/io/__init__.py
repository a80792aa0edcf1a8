"""Run folders and file formats."""

from jaxsbi.io.run_folder import OutputConfig as OutputConfig
from jaxsbi.io.run_folder import Stopwatch as Stopwatch
from jaxsbi.io.run_folder import machine_info as machine_info
from jaxsbi.io.run_folder import prepare_run_dir as prepare_run_dir
from jaxsbi.io.run_folder import save_samples as save_samples
from jaxsbi.io.run_folder import write_json as write_json
