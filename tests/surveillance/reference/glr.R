# R reference for the GLR detectors (glrnb / algo.glrnb of the R package surveillance), written as one CSV with the
# columns series,variant,week,observed,upperbound,alarm: variant "input" rows carry each series (every week), the
# other rows R's result for each monitored week (the last 104). mu0 is R's default GLM on the weeks before the
# range (one harmonic). Run: Rscript --vanilla glr.R glr.csv
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
  "alpha=0;ret=value" = list(alpha = 0, ret = "value"),
  "alpha=0;ret=cases" = list(alpha = 0, ret = "cases"),
  "alpha=0.2;ret=value" = list(alpha = 0.2, ret = "value")
)
options <- list(
  "alpha=0;M=30;ret=value" = list(alpha = 0, M = 30, ret = "value"),
  "alpha=0;M=30;Mtilde=2;ret=cases" = list(alpha = 0, M = 30, Mtilde = 2, ret = "cases"),
  "alpha=0;dir=dec;ret=value" = list(alpha = 0, dir = "dec", ret = "value"),
  "alpha=0;dir=dec;ret=cases" = list(alpha = 0, dir = "dec", ret = "cases"),
  "alpha=0;c.ARL=3;S=2;trend=TRUE" = list(alpha = 0, c.ARL = 3, mu0 = list(S = 2, trend = TRUE)),
  "alpha=0;Mtilde=3;ret=value" = list(alpha = 0, Mtilde = 3, ret = "value"),
  "alpha=0.1;M=20;dir=dec;ret=value" = list(alpha = 0.1, M = 20, dir = "dec", ret = "value"),
  "alpha=0;theta=0.7;ret=value" = list(alpha = 0, theta = 0.7, ret = "value"),
  "alpha=0;theta=0.7;ret=cases" = list(alpha = 0, theta = 0.7, ret = "cases"),
  "alpha=0.2;theta=0.7;ret=cases" = list(alpha = 0.2, theta = 0.7, ret = "cases")
)
# the negative-binomial ret="cases" is a brute-force search in R (slow): one series, a shorter window
slow <- list("alpha=0.2;ret=cases" = list(alpha = 0.2, ret = "cases"), "alpha=0.1;M=26;ret=cases" = list(alpha = 0.1, M = 26, ret = "cases"))
fmt <- function(x) ifelse(is.na(x) & !is.nan(x), "NA", sprintf("%.10g", x))
rows <- list()
for (s in names(series)) {
  y <- series[[s]]; n <- length(y); range <- (n - 103):n
  rows[[length(rows) + 1]] <- data.frame(series = s, variant = "input", week = seq_len(n), observed = y,
                                         upperbound = "NA", alarm = NA)
  variants <- if (s %in% c("salmonella.agona", "hepatitisA", "ha")) c(main, options) else main
  if (s == "salmonella.agona") variants <- c(variants, slow)
  for (v in names(variants)) {
    control <- variants[[v]]; control$range <- range
    res <- suppressMessages(glrnb(sts(observed = y, frequency = 52, start = c(2000, 1)), control = control))
    rows[[length(rows) + 1]] <- data.frame(series = s, variant = paste0(v, ";range_start=", n - 103),
      week = range, observed = y[range], upperbound = fmt(as.numeric(upperbound(res))),
      alarm = as.integer(as.logical(alarms(res))))
  }
}
write.csv(do.call(rbind, rows), out, row.names = FALSE, quote = FALSE, na = "NA")
