"""Study A data sets from their config entries (``build``) and CIFAR-like synthetic images
(``cifar_like``), generated offline, deterministically by seed."""
