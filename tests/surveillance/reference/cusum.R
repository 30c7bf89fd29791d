# R reference for CUSUM (cusum / algo.cusum of the R package surveillance), written as one CSV with the columns
# series,variant,week,observed,upperbound,alarm: variant "input" rows carry each series (every week), the other
# rows R's result for each monitored week (the last 104). Run: Rscript --vanilla cusum.R cusum.csv
suppressMessages(library(surveillance))
out <- commandArgs(trailingOnly = TRUE)[1]

e <- new.env()
data(list = c("salmonella.agona", "hepatitisA", "shadar", "ha", "measlesDE", "influMen", "k1"), envir = e)
series <- list(
  salmonella.agona = as.numeric(e$salmonella.agona$observed),
  hepatitisA = as.numeric(e$hepatitisA$observed),
  shadar = as.numeric(e$shadar$observed),
  ha = as.numeric(rowSums(e$ha$observed)),
  measlesDE = as.numeric(rowSums(observed(e$measlesDE))),
  influMen.meningococcus = as.numeric(e$influMen$observed[, 2]),
  k1 = as.numeric(e$k1$observed)
)
main <- list(
  "standard" = list(),
  "trans=rossi" = list(trans = "rossi"),
  "m=glm" = list(m = "glm"),
  "m=glm;trans=rossi" = list(m = "glm", trans = "rossi")
)
options <- list(
  "k=0.5;h=4" = list(k = 0.5, h = 4),
  "m=3.5" = list(m = 3.5),
  "trans=anscombe" = list(trans = "anscombe"),
  "trans=anscombe2nd" = list(trans = "anscombe2nd"),
  "trans=pearsonNegBin" = list(trans = "pearsonNegBin"),
  "trans=pearsonNegBin;alpha=0.3;m=glm" = list(trans = "pearsonNegBin", alpha = 0.3, m = "glm"),
  "trans=none;h=12" = list(trans = "none", h = 12)
)
fmt <- function(x) ifelse(is.na(x) & !is.nan(x), "NA", sprintf("%.12g", x))
rows <- list()
for (s in names(series)) {
  y <- series[[s]]; n <- length(y); range <- (n - 103):n
  rows[[length(rows) + 1]] <- data.frame(series = s, variant = "input", week = seq_len(n), observed = y,
                                         upperbound = "NA", alarm = NA)
  variants <- if (s %in% c("salmonella.agona", "hepatitisA", "ha")) c(main, options) else main
  for (v in names(variants)) {
    control <- variants[[v]]; control$range <- range
    res <- cusum(sts(observed = y, frequency = 52, start = c(2000, 1)), control = control)
    rows[[length(rows) + 1]] <- data.frame(series = s, variant = paste0(v, ";range_start=", n - 103),
      week = range, observed = y[range], upperbound = fmt(as.numeric(upperbound(res))),
      alarm = as.integer(as.logical(alarms(res))))
  }
}
write.csv(do.call(rbind, rows), out, row.names = FALSE, quote = FALSE, na = "NA")
