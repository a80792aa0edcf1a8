"""One training loop for every estimator: scanned epochs, validation, early stopping."""

from jaxsbi.train.data import DataSource as DataSource
from jaxsbi.train.data import SimulationData as SimulationData
from jaxsbi.train.data import array_source as array_source
from jaxsbi.train.data import online_source as online_source
from jaxsbi.train.data import simulate as simulate
from jaxsbi.train.data import split as split
from jaxsbi.train.estimator import online_sampler as online_sampler
from jaxsbi.train.estimator import train_estimator as train_estimator
from jaxsbi.train.fit import History as History
from jaxsbi.train.fit import TrainConfig as TrainConfig
from jaxsbi.train.fit import fit as fit
