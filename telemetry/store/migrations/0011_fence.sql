-- The fencing token of the cluster node that analysed a frame or made an
-- event: its camera's ownership revision (NULL outside a cluster). A node
-- cut off from the others, whose camera moved, is told apart by it from
-- the camera's new owner.
ALTER TABLE detections ADD COLUMN fence bigint;
ALTER TABLE events ADD COLUMN fence bigint;
