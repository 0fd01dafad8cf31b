"""The tutorial's net, the LightningModule that trains it, and its losses."""
